// GraphiQL for loan-offers: bundled at build time from pinned npm packages and served by the app
// itself, so the page works offline and inside networks that block public CDNs. Everything this
// page loads comes from its own origin (the server sends a strict Content-Security-Policy).
import { createGraphiQLFetcher } from "@graphiql/toolkit";
import { explorerPlugin } from "@graphiql/plugin-explorer";
import { GraphiQL } from "graphiql";
import { Kind, parse } from "graphql";
import { createClient } from "graphql-ws";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";

import "graphiql/style.css";
import "@graphiql/plugin-explorer/style.css";
import "./page.css";

const DEFAULT_QUERY = `# Loan offers for a demo applicant (user-000001 ... user-010000).
# Run with Ctrl-Enter or the play button; explore fields with the explorer on the left.
query Offers {
  loanOffers(request: {userId: "user-000042", requestedAmount: 300000, requestedTenure: 36}) {
    decision
    policyVersion
    offers { rank offerId amount tenure roi emi apr }
  }
}
`;

// The page is served at the GraphQL endpoint itself: same URL for HTTP, ws(s) for subscriptions.
const httpUrl = new URL(window.location.pathname, window.location.origin);
const wsUrl = new URL(httpUrl);
wsUrl.protocol = httpUrl.protocol === "https:" ? "wss:" : "ws:";

// The headers typed into GraphiQL's headers tab (e.g. {"Authorization": "Bearer ..."}): sent
// with every HTTP request by the fetcher, and here in the WebSocket's connection_init payload,
// the only place a browser can put credentials for a subscription.
let editorHeaders = {};

function parseHeaders(text) {
  try {
    const parsed = JSON.parse(text || "{}");
    return parsed && typeof parsed === "object" && !Array.isArray(parsed) ? parsed : {};
  } catch {
    return {};
  }
}

const graphiqlFetcher = createGraphiQLFetcher({
  url: httpUrl.toString(),
  // graphql-ws speaks the graphql-transport-ws protocol; it connects on the first subscription
  // and reads the headers each time it (re)connects.
  wsClient: createClient({
    url: wsUrl.toString(),
    lazy: true,
    retryAttempts: 3,
    connectionParams: () => editorHeaders,
  }),
});

// GraphiQL parses the editor's text after a pause in typing (debounced) and hands the fetcher
// that parse and its operation name; the fetcher picks the WebSocket only when the parse names a
// subscription. Run sooner (Ctrl-Enter straight after typing) and the parse is missing or older
// than the text being sent: a subscription went out as an HTTP POST, which the server refuses.
// So the text being sent decides: parse it here, and name its only operation if the stale name
// is not one of its operations.
function withCurrentParse(params, opts) {
  let document;
  try {
    document = parse(params.query);
  } catch {
    return [params, opts]; // the server answers the syntax error
  }
  const operations = document.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
  let { operationName } = params;
  if (!operations.some((op) => op.name?.value === operationName) && operations.length === 1) {
    operationName = operations[0].name?.value ?? null;
  }
  return [{ ...params, operationName }, { ...opts, documentAST: document }];
}

const fetcher = (params, opts) => graphiqlFetcher(...withCurrentParse(params, opts));

const plugins = [explorerPlugin()];

createRoot(document.getElementById("graphiql")).render(
  <StrictMode>
    <GraphiQL
      fetcher={fetcher}
      plugins={plugins}
      defaultQuery={DEFAULT_QUERY}
      defaultEditorToolsVisibility={true}
      isHeadersEditorEnabled={true}
      // Headers may hold bearer tokens: keep them out of localStorage.
      shouldPersistHeaders={false}
      onEditHeaders={(text) => {
        editorHeaders = parseHeaders(text);
      }}
    />
  </StrictMode>,
);
