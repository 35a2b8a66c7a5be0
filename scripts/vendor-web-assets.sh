#!/usr/bin/env bash
# Fetch the browser assets of GraphiQL (/graphql), Swagger UI (/docs) and ReDoc (/redoc) from
# the npm registry into gql/assets/vendor/, so the pages work offline and under a strict
# Content-Security-Policy. Run it after changing a version below, then commit the result.
# Each package lands in a folder named PACKAGE@VERSION with its licence file.
set -euo pipefail
cd "$(dirname "$0")/.."

DEST=gql/assets/vendor
# package@version, then the files taken from its tarball (paths inside `package/`).
ASSETS=(
    "react@18.2.0 umd/react.production.min.js LICENSE"
    "react-dom@18.2.0 umd/react-dom.production.min.js LICENSE"
    "graphiql@3.8.3 graphiql.min.js graphiql.min.css LICENSE"
    "@graphiql/plugin-explorer@1.0.2 dist/index.umd.js dist/style.css package.json"
    "swagger-ui-dist@5.35.0 swagger-ui-bundle.js swagger-ui.css favicon-32x32.png LICENSE NOTICE"
    "redoc@2.5.4 bundles/redoc.standalone.js bundles/redoc.standalone.js.LICENSE.txt LICENSE"
)

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
rm -rf "$DEST"
for entry in "${ASSETS[@]}"; do
    read -r spec files <<<"$entry"
    folder="$DEST/${spec//\//-}"  # @graphiql/plugin-explorer@1.0.2 -> @graphiql-plugin-explorer@1.0.2
    tarball="$(cd "$work" && npm pack --silent "$spec")"
    mkdir -p "$work/${spec//\//-}" "$folder"
    tar -xzf "$work/$tarball" -C "$work/${spec//\//-}"
    for file in $files; do
        cp "$work/${spec//\//-}/package/$file" "$folder/$(basename "$file")"
    done
    echo "$spec -> $folder" >&2
done
