// The OFREP web-provider page of tests/support/browser.py: evaluates the configured flags
// with the official @openfeature/web-sdk and @openfeature/ofrep-web-provider, keeps polling,
// and publishes what it saw in window.avsb.
import { OpenFeature } from '@openfeature/web-sdk';
import { OFREPWebProvider } from '@openfeature/ofrep-web-provider';

const config = window.AVSB_CONFIG;
const state = { ready: false, results: {}, statuses: [], changes: 0, error: null };
window.avsb = state;

const countingFetch = async (input, init) => {
  const response = await fetch(input, init);
  state.statuses.push(response.status);
  return response;
};

function details(client, check) {
  const read = {
    boolean: () => client.getBooleanDetails(check.flag, check.default),
    string: () => client.getStringDetails(check.flag, check.default),
    number: () => client.getNumberDetails(check.flag, check.default),
    object: () => client.getObjectDetails(check.flag, check.default),
  }[check.type];
  const d = read();
  return { value: d.value, reason: d.reason, variant: d.variant ?? null,
           errorCode: d.errorCode ?? null, metadata: d.flagMetadata ?? {} };
}

function evaluateAll(client) {
  for (const check of config.checks) {
    state.results[check.flag] = details(client, check);
  }
  document.getElementById('out').textContent = JSON.stringify(state.results, null, 2);
}

async function main() {
  const provider = new OFREPWebProvider({
    baseUrl: config.baseUrl,
    headers: [['Authorization', `Bearer ${config.key}`]],
    fetchImplementation: countingFetch,
    pollInterval: config.pollMs,
    changeDetection: 'polling',
    cacheMode: 'disabled',
  });
  await OpenFeature.setContext(config.context);
  await OpenFeature.setProviderAndWait(provider);
  const client = OpenFeature.getClient();
  evaluateAll(client);
  client.addHandler('PROVIDER_CONFIGURATION_CHANGED', () => {
    state.changes += 1;
    evaluateAll(client);
  });
  state.ready = true;
}

main().catch((error) => {
  state.error = String(error && error.stack ? error.stack : error);
});
