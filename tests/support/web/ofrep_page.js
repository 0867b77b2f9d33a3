// The OFREP web-provider page of tests/support/browser.py: evaluates the configured flags
// with the official @openfeature/web-sdk and @openfeature/ofrep-web-provider, keeps polling
// (or follows the server's event stream, `changeDetection: 'sse'`), and publishes what it saw
// in window.avsb: also each bulk call's URL, each configuration-changed event with the page's
// clock (`Date.now()`) and the values it then read, and each EventSource the provider opened.
import { OpenFeature } from '@openfeature/web-sdk';
import { OFREPWebProvider } from '@openfeature/ofrep-web-provider';

const config = window.AVSB_CONFIG;
const state = { ready: false, results: {}, statuses: [], changes: 0, error: null,
                urls: [], changeLog: [], eventSources: [] };
window.avsb = state;

// The provider opens its event stream with the global EventSource: record each one's URL,
// whether it opened (a cross-origin stream opens only when CORS allows it), its messages
// and errors, with the page's clock.
const NativeEventSource = window.EventSource;
window.EventSource = class RecordedEventSource extends NativeEventSource {
  constructor(url, init) {
    super(url, init);
    const seen = { url: String(url), opened: null, messages: [], errors: 0 };
    state.eventSources.push(seen);
    this.addEventListener('open', () => { seen.opened = seen.opened ?? Date.now(); });
    this.addEventListener('message', (e) => {
      seen.messages.push({ at: Date.now(), id: e.lastEventId, data: e.data });
    });
    this.addEventListener('error', () => { seen.errors += 1; });
  }
};

const countingFetch = async (input, init) => {
  const response = await fetch(input, init);
  state.statuses.push(response.status);
  state.urls.push(typeof input === 'string' ? input : input.url);
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
    changeDetection: config.changeDetection ?? 'polling',
    cacheMode: 'disabled',
  });
  await OpenFeature.setContext(config.context);
  await OpenFeature.setProviderAndWait(provider);
  const client = OpenFeature.getClient();
  evaluateAll(client);
  client.addHandler('PROVIDER_CONFIGURATION_CHANGED', (details) => {
    const at = Date.now();
    state.changes += 1;
    evaluateAll(client);
    const values = Object.fromEntries(
      Object.entries(state.results).map(([flag, d]) => [flag, d.value]));
    state.changeLog.push({ at, flagsChanged: details?.flagsChanged ?? null, values });
  });
  state.ready = true;
}

main().catch((error) => {
  state.error = String(error && error.stack ? error.stack : error);
});
