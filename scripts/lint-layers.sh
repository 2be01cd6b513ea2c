#!/usr/bin/env bash
# Rejects upward includes between layers (STYLE.md: each layer depends only on those below),
# and raw malloc/free outside util/alloc.c.
set -u
cd "$(dirname "$0")/.."
# layer -> layers it may include (besides itself)
declare -A allowed=(
  [util]=""
  [http]="util"
  [store]="util"
  [iam]="util store"
  [s3]="util http store iam"
  [migrate]="util store iam"
  [registry]="util store iam migrate"
  [admin]="util http store iam s3 migrate registry"
  [console]="util http admin iam store"
  [bench]="util http s3"
  [cli]="util http store iam s3 migrate registry admin console bench"
)
bad=0
for f in $(find src -name '*.[ch]' | sort); do
  layer=$(echo "$f" | cut -d/ -f2)
  [ "$layer" = "main.c" ] && continue
  while IFS= read -r inc; do
    target=$(echo "$inc" | sed -E 's/.*"((\.\.\/)*)([a-z0-9_]+)\/.*/\3/')
    [[ "$inc" =~ \"\.\./ ]] || continue
    # a sub-folder including its own layer's header ("../store.h" from src/store/local/)
    [[ "$f" == src/$layer/*/* && "$inc" =~ \"\.\./[a-z_]+\.h\" ]] && continue
    [ "$target" = "$layer" ] && continue
    case " ${allowed[$layer]:-} " in
      *" $target "*) ;;
      *) echo "$f: layer '$layer' must not include '$target': $inc"; bad=1 ;;
    esac
  done < <(grep -E '^#include "' "$f")
done
raw=$(grep -nE '\b(malloc|calloc|realloc|free|strdup)\(' $(find src -name '*.c' ! -path src/util/alloc.c) \
      | grep -vE 'gz_(try_)?(malloc|calloc|realloc|free|strdup)|sqlite3_free|_free\(|OPENSSL|XML_|cJSON' || true)
if [ -n "$raw" ]; then echo "raw allocation outside util/alloc.c:"; echo "$raw"; bad=1; fi
[ $bad -eq 0 ] && echo "lint: layers and allocation OK"
exit $bad
