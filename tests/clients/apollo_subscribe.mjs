// Follow an upload with Apollo Client's HttpLink (multipart subscriptions over plain HTTP, no
// WebSocket): one JSON line per result on stdout, exit 0 when the server completes the stream.
// Usage: node apollo_subscribe.mjs GRAPHQL_URL UPLOAD_ID [AFTER]
import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";

const [url, id, after] = process.argv.slice(2);
const EVENTS = gql`
  subscription Events($id: ID!, $after: Int) {
    uploadEvents(id: $id, after: $after) {
      sequence
      kind
      uploadStatus
      documentStatus
      pagesDone
      page {
        number
      }
    }
  }
`;

const client = new ApolloClient({ link: new HttpLink({ uri: url }), cache: new InMemoryCache() });
const variables = { id, after: after === undefined ? null : Number(after) };

client.subscribe({ query: EVENTS, variables }).subscribe({
  next: (result) => {
    if (result.error) {
      console.log(JSON.stringify({ error: result.error.message, errors: result.error.errors }));
    } else {
      console.log(JSON.stringify(result.data.uploadEvents));
    }
  },
  error: (error) => {
    console.log(JSON.stringify({ error: String(error), errors: error.errors }));
    process.exit(1);
  },
  complete: () => process.exit(0),
});
