# Sourced by scripts/fuzz.sh: installs clang 14 + libFuzzer if missing
# (Debian: clang, libclang-rt-14-dev) and defines fuzz_configure DIR, the one configuration of the
# clang ASan + UBSan + libFuzzer build.
need=()
for p in clang libclang-rt-14-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if ((${#need[@]})); then
  SUDO=""; if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "installing ${need[*]}" >&2
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

fuzz_configure() {
  local cxx
  cxx="$(command -v clang++-14 || command -v clang++)"
  cmake -S . -B "$1" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" \
    -DCMAKE_CXX_COMPILER="$cxx" -DGRETA_SANITIZE=ON -DGRETA_FUZZ=ON -DGRETA_CUDA=OFF >/dev/null
}
