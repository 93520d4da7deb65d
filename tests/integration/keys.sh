#!/usr/bin/env bash
# sibyl keys against cast's keystore support (real cast from scripts/setup):
#  1. a keystore made by `sibyl keys new` is read by `cast wallet address --keystore` (same address)
#  2. a keystore made by `cast wallet new` is read by `sibyl keys address` (same address)
#  3. `sibyl keys import` of a known key gives its known address, also through cast
#  4. a wrong password fails with "MAC mismatch: wrong password?"
#  5. a keystore readable by group/others (0644) is refused with a message saying so
#  6. the private key never appears in sibyl's output
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${SIBYL_BUILD:-$ROOT/build}
SIBYL=$BUILD/cli/sibyl
CAST=$ROOT/contracts/node_modules/.bin/cast
[ -x "$SIBYL" ] || { echo "FAIL: $SIBYL not built"; exit 1; }
[ -x "$CAST" ] || { echo "FAIL: cast not found at $CAST: run scripts/setup"; exit 1; }

T=$(mktemp -d /tmp/sibyl-keys-XXXXXX)
trap 'rm -rf "$T"' EXIT
umask 022
printf 'correct horse battery staple\n' >"$T/pw"
printf 'wrong password\n' >"$T/bad"
fail() { echo "FAIL: $*"; exit 1; }

# 1. sibyl writes, cast reads (cheap scrypt so the test stays fast; cast honours any n)
addr=$("$SIBYL" keys new --keystore-dir "$T/ks" --password-file "$T/pw" --scrypt-n 4096 2>"$T/new.err")
file=$(ls "$T/ks"/UTC--*)
[ "$(stat -c %a "$file")" = 600 ] || fail "keystore mode is $(stat -c %a "$file"), want 600"
cast_addr=$("$CAST" wallet address --keystore "$file" --password-file "$T/pw")
[ "$addr" = "$cast_addr" ] || fail "sibyl wrote $addr, cast read $cast_addr"
echo "ok: sibyl keys new -> cast wallet address: $addr"

# 2. cast writes, sibyl reads (cast writes 0644; make it private first)
mkdir "$T/castks"
"$CAST" wallet new "$T/castks" --unsafe-password 'correct horse battery staple' </dev/null >"$T/cast.out"
cast_file=$(ls "$T/castks"/*)
cast_new_addr=$(sed -n 's/^Address: *//p' "$T/cast.out")
chmod 600 "$cast_file"
sibyl_addr=$("$SIBYL" keys address --keystore "$cast_file" --password-file "$T/pw")
[ "$sibyl_addr" = "$cast_new_addr" ] || fail "cast wrote $cast_new_addr, sibyl read $sibyl_addr"
echo "ok: cast wallet new -> sibyl keys address: $sibyl_addr"

# 3. import a known key (anvil's first account)
KEY=ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
printf '0x%s\n' "$KEY" >"$T/key"
chmod 600 "$T/key"
imp=$("$SIBYL" keys import --keystore-dir "$T/imp" --password-file "$T/pw" --private-key-file "$T/key" --scrypt-n 4096 2>"$T/imp.err")
[ "$imp" = 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266 ] || fail "import gave $imp"
imp_file=$(ls "$T/imp"/UTC--*)
[ "$("$CAST" wallet address --keystore "$imp_file" --password-file "$T/pw")" = "$imp" ] || fail "cast reads the imported key differently"
[ "$("$SIBYL" keys address --keystore "$imp_file" --password-file "$T/pw")" = "$imp" ] || fail "sibyl reads the imported key differently"
echo "ok: sibyl keys import -> $imp"

# 4. wrong password
if "$SIBYL" keys address --keystore "$file" --password-file "$T/bad" >"$T/out" 2>"$T/err"; then
  fail "wrong password accepted"
fi
grep -q 'MAC mismatch: wrong password?' "$T/err" || fail "wrong-password message: $(cat "$T/err")"
echo "ok: wrong password: $(cat "$T/err")"

# 5. group/other-readable keystore refused
chmod 644 "$file"
if "$SIBYL" keys address --keystore "$file" --password-file "$T/pw" >"$T/out" 2>"$T/err"; then
  fail "0644 keystore accepted"
fi
grep -q 'accessible by group or others (mode 0644)' "$T/err" || fail "0644 message: $(cat "$T/err")"
echo "ok: 0644 refused: $(cat "$T/err")"

# 6. the key never leaks into output
if grep -qi "$KEY" "$T"/*.err "$T/out" "$T/err"; then fail "private key printed"; fi # no pipe: under pipefail a SIGPIPE in cat would hide a match
# an import refuses a group-readable key file too
chmod 644 "$T/key"
if "$SIBYL" keys import --keystore-dir "$T/imp2" --password-file "$T/pw" --private-key-file "$T/key" 2>"$T/err"; then
  fail "group-readable private key file accepted"
fi
grep -q 'accessible by group or others' "$T/err" || fail "key file message: $(cat "$T/err")"
echo "ok: private key never printed; group-readable key file refused"
echo "keys.sh: all passed"
