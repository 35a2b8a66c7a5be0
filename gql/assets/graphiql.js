// GraphiQL for pagemill: queries and mutations over HTTP, subscriptions over a WebSocket, both
// to this page's own URL. Loaded as a file (no inline script) so a strict CSP allows it.
// The headers editor's values go with every HTTP request and, since a browser WebSocket carries
// no headers, as each subscription socket's connection_init payload (graphiql-toolkit's
// getWsFetcher), where the server reads a bearer token when tokens are on.
(function () {
  "use strict";

  const DEFAULT_QUERY = `# pagemill's GraphQL API. Run with Ctrl-Enter; the docs are in the left bar.
#
# Upload with any client that speaks the GraphQL multipart request spec, then follow it
# with the uploadEvents subscription.

query Ping {
  ping
}
`;
  const params = new URLSearchParams(window.location.search);
  const url = window.location.href.split(/[?#]/)[0];
  const wsUrl = new URL(url);
  wsUrl.protocol = wsUrl.protocol === "https:" ? "wss:" : "ws:";

  const fetcher = GraphiQL.createFetcher({ url: url, subscriptionUrl: wsUrl.toString() });

  // `q`, not `query`: a GET with `query` runs the operation instead of opening this page.
  function remember(name, value) {
    if (value) {
      params.set(name, value);
    } else {
      params.delete(name);
    }
    const search = params.toString();
    window.history.replaceState(null, "", search ? "?" + search : window.location.pathname);
  }

  function Explorer() {
    const explorer = React.useMemo(() => GraphiQLPluginExplorer.explorerPlugin(), []);
    return React.createElement(GraphiQL, {
      fetcher: fetcher,
      plugins: [explorer],
      defaultQuery: DEFAULT_QUERY,
      query: params.get("q") || undefined,
      variables: params.get("variables") || undefined,
      onEditQuery: (value) => remember("q", value),
      onEditVariables: (value) => remember("variables", value),
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
      inputValueDeprecation: true,
    });
  }

  ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(Explorer));
})();
