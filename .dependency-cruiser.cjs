// The house rules about who may import whom, checked by dependency-cruiser (`npm run lint:deps`, run by .ci/run).
// A rule written only in the README drifts the first time someone is in a hurry; a rule here fails CI with its
// name. Folders: adapters/ (southbound protocols), src/forward/ (northbound sinks), src/pipeline/ (transforms),
// src/journal/, src/model/, simulators/ (the peers tests talk to), and three kits that components may import:
// src/config/kit/, adapters/kit/, src/forward/kit/ (plus src/kit/ for protocol-free helpers).

// Production code only: a test may wire a component to the config loader or a simulator, which is what it is for.
// Test helpers (test-support.ts, test-harness.ts, the crash child and the contract suite of the journal tests)
// count as tests.
const TESTS =
  '(\\.test\\.ts|/test-support\\.ts|/test-harness\\.ts|/crash-child\\.ts|/journal-contract\\.ts|/journal/testing/.*)$';

// The libraries that speak a field protocol; a transform that imports one has learnt a protocol. Not anchored
// at the start: a node_modules reached through a symbolic link resolves to a path outside the repository.
const PROTOCOL_LIBRARIES = '(^|/)node_modules/(node-opcua[^/]*|modbus-serial|mqtt|mqtt-packet|aedes)/';

// The kits: small, stable pieces that components import. They must stay below every component.
const KITS = '^(src/config/kit|adapters/kit|src/forward/kit|src/kit)/';

// A folder's own files use its subfolders (adapters/index.ts registers adapters/opcua/), so a module that imports
// a file sitting directly in one of its ancestor folders closes a folder cycle that the folder-scoped rule cannot
// see (it counts a folder together with its subfolders). One rule per ancestor depth, because a rule's `to` can
// only refer back to one captured group of its `from`; four levels cover the deepest folder in the tree.
function upwardImportRules() {
  return [1, 2, 3, 4].map((depth) => ({
    name: 'no-import-from-parent-folder',
    comment:
      'A subfolder imports nothing from the files of a folder above it; what both need goes into a kit folder ' +
      '(adapters/kit/, src/forward/kit/, src/config/kit/, src/kit/). The one exception is the CLI command that ' +
      'starts the daemon (src/cli/run.ts -> src/daemon.ts): both are entry points at the very top.',
    severity: 'error',
    // Spelled out per depth: dependency-cruiser refuses nested quantifiers as unsafe regular expressions.
    from: { path: `^(${Array(depth).fill('[^/]+').join('/')})/[^/]+/`, pathNot: TESTS },
    to: { path: '^$1/[^/]+$', pathNot: '^src/daemon\\.ts$' },
  }));
}

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'adapters-not-to-journal-or-sinks',
      comment:
        'An adapter turns protocol traffic into samples and hands them to the ingest path; what is journaled and ' +
        'where it is sent is not its business, so a new sink or journal format never touches an adapter.',
      severity: 'error',
      from: { path: '^adapters/', pathNot: TESTS },
      to: { path: '^src/(journal|forward)/' },
    },
    {
      name: 'sinks-not-to-adapters',
      comment:
        'A sink writes canonical records; it must not know which protocol produced them, or sources and sinks ' +
        'stop being independently replaceable.',
      severity: 'error',
      from: { path: '^src/forward/', pathNot: TESTS },
      to: { path: '^adapters/' },
    },
    {
      name: 'transforms-know-no-protocol',
      comment:
        'The pipeline (normalize, validate, specs) works on protocol-neutral samples, so the same transform ' +
        'applies to OPC UA, Modbus and MQTT alike and is testable without a protocol stack.',
      severity: 'error',
      from: { path: '^src/pipeline/', pathNot: TESTS },
      to: { path: ['^adapters/', PROTOCOL_LIBRARIES] },
    },
    {
      name: 'journal-knows-no-sink-or-config',
      comment:
        'The journal stores records and cursors; it must not depend on who reads them (sinks) nor on the config ' +
        'schema, so its on-disk format outlives changes to both. Its options come in as plain values.',
      severity: 'error',
      from: { path: '^src/journal/', pathNot: TESTS },
      to: { path: '^src/(forward|config)/' },
    },
    {
      name: 'model-knows-no-config',
      comment:
        'The canonical record model is the one thing every stage shares; if it imported the config it would ' +
        'import every component schema with it.',
      severity: 'error',
      from: { path: '^src/model/', pathNot: TESTS },
      to: { path: '^src/config/' },
    },
    {
      name: 'simulators-import-no-product',
      comment:
        'A simulator stands in for a real PLC, broker or receiver; if it shared code with the product, a bug in ' +
        'that code would be on both ends of the test and the test would pass. Applies to simulator tests too; ' +
        "they may use the tests' one condition wait (src/kit/testing/wait.ts), which is test tooling, not product.",
      severity: 'error',
      from: { path: '^simulators/' },
      to: { path: '^(src|adapters)/', pathNot: '^src/kit/testing/wait\\.ts$' },
    },
    {
      name: 'components-use-config-kit-only',
      comment:
        'src/config/ outside kit/ is the aggregator: it imports every component schema to build the whole ' +
        'configuration. A component importing it closes a cycle; components take the small kit instead.',
      severity: 'error',
      from: { path: '^(adapters|src/(forward|events|pipeline|journal|model))/', pathNot: TESTS },
      to: { path: '^src/config/', pathNot: '^src/config/kit/' },
    },
    {
      name: 'kits-import-no-component',
      comment:
        'A kit sits below the components that import it; if it imported a component (or the aggregator) the ' +
        'folder graph would have a cycle. A kit may use other kits, the record model and the shared errors.',
      severity: 'error',
      from: { path: KITS, pathNot: TESTS },
      to: {
        path: '^(src|adapters|simulators)/',
        pathNot: [KITS, '^src/model/', '^src/errors\\.ts$'],
      },
    },
    {
      name: 'no-circular',
      comment:
        'A module cycle makes load order matter (an import sees undefined) and means neither module can be ' +
        'understood or tested alone.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-folder-cycles',
      comment:
        'Folders are the rooms of the house: each may only use rooms below it. dependency-cruiser counts a ' +
        'folder with everything under it, so this catches cycles between sibling trees (adapters/ and src/ ...); ' +
        'cycles between a folder and its own subfolder are the next rule.',
      severity: 'error',
      scope: 'folder',
      from: {},
      to: { circular: true },
    },
    ...upwardImportRules(),
  ],
  options: {
    // Only the product's own code; node_modules is recorded as a leaf (for the protocol rule) but not followed.
    doNotFollow: { path: 'node_modules' },
    // Tests and their helpers are left out of the graph: every rule here is about production code, and a test
    // that wires the config loader to a component (to test that component) would otherwise show as a folder
    // cycle. The simulators' own tests stay in: a simulator test leaning on the product would hide the same bug
    // on both ends of the wire.
    exclude: { path: ['^(dist|node_modules)/', `^(?!simulators/)[^ ]*${TESTS}`] },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.d.ts'],
    },
  },
};
