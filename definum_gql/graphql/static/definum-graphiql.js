/* definum-gql: starts GraphiQL against this server's /graphql (our own file, GPL-3.0-or-later). */
(function () {
  "use strict";
  var root = document.getElementById("graphiql");
  var endpoint = root.getAttribute("data-endpoint");
  var fetcher = GraphiQL.createFetcher({ url: endpoint });
  var defaultQuery = [
    "# Put your web service token in Headers (below),",
    "# then reload the schema (circular arrow, left).",
    "# Ctrl-Enter runs the query.",
    "",
    "query LearnerDashboard($id: String!) {",
    "  user(by: ID, value: $id) {",
    "    fullname",
    "    lastLogin",
    "    definumStats {",
    "      courses",
    "      finishedCourses",
    "      finishedCoursesRatio",
    "      numBadges",
    "      timeSpentInMonthStr",
    "      loginsInMonth",
    "    }",
    "  }",
    "}",
    ""
  ].join("\n");
  var element = React.createElement(GraphiQL, {
    fetcher: fetcher,
    defaultQuery: defaultQuery,
    defaultVariables: "{\"id\": \"2\"}",
    defaultHeaders: "{\"Authorization\": \"Bearer <token>\"}",
    defaultEditorToolsVisibility: "headers",
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: true
  });
  ReactDOM.createRoot(root).render(element);
})();
