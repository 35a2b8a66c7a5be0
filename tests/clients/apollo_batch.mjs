// Run queries at once through Apollo Client's BatchHttpLink: it sends them as one JSON array.
// Prints one JSON line per query result, then {"requests": N, "batchSizes": [...]}.
// Usage: node apollo_batch.mjs GRAPHQL_URL QUERY...
import { ApolloClient, InMemoryCache, gql } from "@apollo/client";
import { BatchHttpLink } from "@apollo/client/link/batch-http";

const [url, ...queries] = process.argv.slice(2);
const batchSizes = [];

async function countingFetch(input, init) {
  const body = JSON.parse(init.body);
  batchSizes.push(Array.isArray(body) ? body.length : 0);
  return fetch(input, init);
}

const link = new BatchHttpLink({ uri: url, batchMax: 50, batchInterval: 20, fetch: countingFetch });
const client = new ApolloClient({ link, cache: new InMemoryCache() });

const results = await Promise.all(
  queries.map((query) =>
    client
      .query({ query: gql(query), fetchPolicy: "no-cache", errorPolicy: "all" })
      .then((result) => ({ data: result.data ?? null, error: result.error?.message ?? null }))
      .catch((error) => ({ data: null, error: String(error) })),
  ),
);
for (const result of results) {
  console.log(JSON.stringify(result));
}
console.log(JSON.stringify({ requests: batchSizes.length, batchSizes }));
