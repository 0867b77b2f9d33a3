// Evaluates flags with the official Node OpenFeature SDK and its OFREP provider, run by
// test_ofrep_clients.py: `node ofrep_node_client.mjs <node_modules> <config JSON>`, where the
// config is {baseUrl, key, context, checks: [{flag, type, default}]}; prints the details.
import { createRequire } from 'node:module';
import path from 'node:path';

const [modules, raw] = process.argv.slice(2);
const require = createRequire(path.join(modules, 'noop.js'));
const { OpenFeature } = require('@openfeature/server-sdk');
const { OFREPProvider } = require('@openfeature/ofrep-provider');

const config = JSON.parse(raw);
const provider = new OFREPProvider({
  baseUrl: config.baseUrl,
  headers: [['Authorization', `Bearer ${config.key}`]],
});
await OpenFeature.setProviderAndWait(provider);
const client = OpenFeature.getClient();
const out = {};
for (const check of config.checks) {
  const context = check.context ?? config.context;
  const read = {
    boolean: () => client.getBooleanDetails(check.flag, check.default, context),
    string: () => client.getStringDetails(check.flag, check.default, context),
    number: () => client.getNumberDetails(check.flag, check.default, context),
    object: () => client.getObjectDetails(check.flag, check.default, context),
  }[check.type];
  const d = await read();
  out[check.name ?? check.flag] = {
    value: d.value, reason: d.reason, variant: d.variant ?? null,
    errorCode: d.errorCode ?? null, metadata: d.flagMetadata ?? {},
  };
}
await OpenFeature.close();
process.stdout.write(JSON.stringify(out));
