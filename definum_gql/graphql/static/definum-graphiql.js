/* definum-gql: starts GraphiQL against this server's /graphql (our own file, GPL-3.0-or-later). */
(function () {
  "use strict";
  var root = document.getElementById("graphiql");
  var endpoint = root.getAttribute("data-endpoint");
  // The server fills in the starter query, and on a demo site only, the demo's token.
  var demoToken = root.getAttribute("data-token") || "";
  var starter = root.getAttribute("data-query") || "";
  var PLACEHOLDER = "<token>";
  var network = GraphiQL.createFetcher({ url: endpoint });

  // Until a token is entered, say what to do instead of sending the placeholder (which the
  // server would answer "Invalid token", as if the user had done something wrong).
  function fetcher(params, options) {
    var headers = (options && options.headers) || {};
    var auth = String(headers.Authorization || headers.authorization || "");
    if (auth.indexOf(PLACEHOLDER) !== -1) {
      return Promise.resolve({
        errors: [{
          message: "Put your Moodle web service token in the Headers pane (below), in place of " +
            PLACEHOLDER + ", then reload the schema (circular arrow, left) and run the query.",
          extensions: { code: "TOKEN_NEEDED" }
        }]
      });
    }
    return network(params, options);
  }

  var element = React.createElement(GraphiQL, {
    fetcher: fetcher,
    defaultQuery: starter,
    defaultHeaders: "{\"Authorization\": \"Bearer " + (demoToken || PLACEHOLDER) + "\"}",
    defaultEditorToolsVisibility: "headers",
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: true
  });
  ReactDOM.createRoot(root).render(element);
})();
