/** The groups-overage capability's public surface: what other capabilities may import. */
export { FEDERATED_TOKEN_FILE_ENV, GRAPH_CREDENTIAL_KEYS, applyFederatedTokenDefault, graphCredentialProblems } from './graph-credentials.js'
