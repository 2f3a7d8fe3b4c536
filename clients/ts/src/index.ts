/// @vigil/client: typed tRPC client for vigild plus React hooks.
///
/// * `AppRouter` / `AppRouterJson`: every procedure's input and output types.
/// * `createVigilClient({ url | urls, token | getToken, transformer, WebSocket })`.
/// * React: `VigilProvider`, `useAlertSubscription`, `useMetricsSubscription`, `usePresence`,
///   `useActiveAlerts`, `useVigilQuery`, `useAcknowledgeAlert`, `useResolveAlert`,
///   `useEscalateAlert`, `useCreateAlert`, `useUpdateAlert`, `useTransferAlert`, `useConnectionMode`.
/// * Schemas (`inputs`, `outputs`, `jsonOutputs`) and value types (`Alert`, `AlertEvent`, ...).
/// Import `@vigil/client/core` to leave React out.
export * from './core.js';
export * from './react.js';
