#!/usr/bin/env bash
# The wheel is what is tested: build the sdist and the wheel, check them, install the wheel into a
# fresh virtual environment (no editable install, the source tree off the path) and smoke-test it.
#
#   tools/check_dist.sh [PYTHON]     PYTHON: an interpreter with the `release` extra (build, twine)
#
# Exit status 0 when every check passes; the first failing check stops the script with its reason.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="${1:-$ROOT/.venv/bin/python}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/losslab-dist.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
fail() { echo "check_dist: FAIL: $*" >&2; exit 1; }
step() { echo "check_dist: $*"; }

step "building the sdist and the wheel (the wheel is built from the sdist)"
"$PY" -m build --outdir "$WORK/dist" "$ROOT" > "$WORK/build.log" 2>&1 \
    || { cat "$WORK/build.log"; fail "python -m build"; }
if grep -n "SetuptoolsDeprecationWarning\|License classifiers are deprecated" "$WORK/build.log"; then
    fail "the build warns about deprecated packaging metadata (above)"
fi
WHEEL=$(ls "$WORK"/dist/*.whl)
SDIST=$(ls "$WORK"/dist/*.tar.gz)

step "twine check --strict"
"$PY" -m twine check --strict "$WORK"/dist/* || fail "twine check"

step "the distributions' contents and metadata"
"$PY" - "$WHEEL" "$SDIST" "$ROOT" <<'EOF' || fail "contents or metadata"
import re, sys, tarfile, zipfile
from email.parser import Parser
wheel, sdist, root = sys.argv[1:]
names = zipfile.ZipFile(wheel).namelist()
meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
info = meta_name.rsplit("/", 1)[0]
meta = Parser().parsestr(zipfile.ZipFile(wheel).read(meta_name).decode())
source = open(f"{root}/src/losslab/__init__.py", encoding="utf-8").read()
version = re.search(r'^__version__ = "([^"]+)"', source, re.M).group(1)
problems = []
if meta["Version"] != version:
    problems.append(f"metadata version {meta['Version']!r} != losslab.__version__ {version!r}")
if meta["License-Expression"] != "MIT AND CC-BY-SA-3.0":
    problems.append(f"License-Expression is {meta['License-Expression']!r}")
if sorted(meta.get_all("License-File") or []) != ["LICENSE", "src/losslab/data/MNIST_PROVENANCE.md"]:
    problems.append(f"License-File entries: {meta.get_all('License-File')}")
if meta.get_all("Requires-Dist") and [r for r in meta.get_all("Requires-Dist") if "extra ==" not in r] != ["numpy>=1.23"]:
    problems.append(f"required dependencies beyond NumPy: {meta.get_all('Requires-Dist')}")
needed = [f"{info}/licenses/LICENSE", f"{info}/licenses/src/losslab/data/MNIST_PROVENANCE.md",
          "losslab/data/MNIST_PROVENANCE.md", "losslab/data/mnist_5k.npz", "losslab/py.typed",
          "losslab/grade/exercises/loss-forward/template.py",
          "losslab/grade/exercises/loss-forward/statement.zh.md", "losslab/grade/exercises/loss-forward/checks.py",
          "losslab/grade/templates/_grading.zh.md", "losslab/grade/templates/new/exercise.json"]
problems += [f"the wheel lacks {n}" for n in needed if n not in names]
if "CC BY-SA 3.0" not in zipfile.ZipFile(wheel).read("losslab/data/MNIST_PROVENANCE.md").decode():
    problems.append("the MNIST notice in the wheel does not name CC BY-SA 3.0")
# every file of the judge's templates and exercise folders is in the wheel (package data is easy to forget)
import pathlib
src = pathlib.Path(root, "src")
for folder in ("losslab/grade/templates", "losslab/grade/exercises", "losslab/serve/templates",
               "losslab/serve/static", "losslab/serve/migrations"):
    files = sorted(p.relative_to(src).as_posix() for p in (src / folder).rglob("*")
                   if p.is_file() and "__pycache__" not in p.parts)
    problems += [f"the wheel lacks {f}" for f in files if f not in names]
problems += [f"the wheel holds a stray file {n}" for n in names
             if not (n.startswith("losslab/") or n.startswith(info + "/"))]
sdist_names = tarfile.open(sdist).getnames()
for n in ("LICENSE", "CHANGELOG.md", "README.md", "pyproject.toml", "src/losslab/data/MNIST_PROVENANCE.md"):
    if not any(s.split("/", 1)[-1] == n for s in sdist_names):
        problems.append(f"the sdist lacks {n}")
if problems:
    sys.exit("\n".join(problems))
print(f"  {len(names)} files in {wheel.rsplit('/', 1)[-1]}, version {version}, licence files present")
EOF

step "a fresh virtual environment with the wheel alone (NumPy its only dependency)"
"$PY" -m venv "$WORK/venv"
VPY="$WORK/venv/bin/python"
"$VPY" -m pip install --quiet --disable-pip-version-check "$WHEEL" || fail "pip install the wheel"
mkdir "$WORK/run" && cd "$WORK/run"      # the source tree is neither the cwd nor on the path
unset PYTHONPATH
export PATH="$WORK/venv/bin:$PATH"

step "import of every public module, from the installed wheel"
"$VPY" - "$WORK/venv" <<'EOF' || fail "importing the public modules"
import importlib, pkgutil, sys
import losslab
if not losslab.__file__.startswith(sys.argv[1]):
    sys.exit(f"losslab imported from {losslab.__file__}, not from the fresh environment")
from importlib.metadata import version
if version("losslab") != losslab.__version__:
    sys.exit(f"installed metadata {version('losslab')} != losslab.__version__ {losslab.__version__}")
# losslab.serve's modules need the serve extra (SQLAlchemy, Starlette ...): only the package itself here
public = ["losslab"] + [m.name for m in pkgutil.walk_packages(losslab.__path__, "losslab.")
                        if not any(part.startswith("_") for part in m.name.split("."))
                        and not m.name.startswith("losslab.serve.")]
for name in public:
    importlib.import_module(name)
heavy = sorted({"matplotlib", "tqdm", "numba", "dask", "torch", "pooch"} & set(sys.modules))
if heavy:
    sys.exit(f"importing the public modules pulled in optional packages: {heavy}")
print(f"  imported {len(public)} public modules")
EOF

step "losslab --version, losslab exercise list"
losslab --version | grep -qx "losslab $("$VPY" -c 'import losslab; print(losslab.__version__)')" \
    || fail "losslab --version"
losslab exercise list > list.txt || fail "losslab exercise list"
grep -q "^loss-forward " list.txt || { cat list.txt; fail "exercise list lacks loss-forward"; }

step "losslab class create without the serve extra: one clear line"
if losslab class create demo --db sqlite:///demo.db 2> serve.txt; then fail "class create ran without the serve extra"; fi
grep -q "needs the serve extra" serve.txt || { cat serve.txt; fail "class create without the extra"; }

step "losslab grade: the untouched template fails, a correct solution passes"
losslab exercise start loss-forward work > /dev/null || fail "losslab exercise start"
if losslab grade work/loss_forward.py --seed 1 > template.txt; then
    cat template.txt; fail "the empty template was graded a pass"
fi
"$VPY" - work/loss_forward.py <<'EOF' || fail "filling in the template"
import sys
path = sys.argv[1]
text = open(path, encoding="utf-8").read()
bodies = [
    "        y = softmax(x)\n"
    "        batch = y.shape[0]\n"
    "        loss = -np.sum(np.log(y[np.arange(batch), t] + 1e-7)) / batch\n"
    "        self.loss = loss\n"
    "        return loss\n",
    "        loss = 0.5 * np.sum((y - t) ** 2)\n"
    "        self.loss = loss\n"
    "        return loss\n",
]
marker = "        ########## Begin ##########\n        pass\n"
if text.count(marker) != 2:
    sys.exit("the template's two Begin/pass blocks were not found")
for body in bodies:
    text = text.replace(marker, "        ########## Begin ##########\n" + body, 1)
open(path, "w", encoding="utf-8").write(text)
EOF
losslab grade work/loss_forward.py --seed 1 > graded.txt || { cat graded.txt; fail "a correct solution did not pass"; }
grep -Eq "^  ([0-9]+) of \1 checks passed" graded.txt || { cat graded.txt; fail "no 'N of N checks passed'"; }
if grep -q "FAIL" graded.txt; then cat graded.txt; fail "a correct solution has a FAIL line"; fi
sed -n '$p' graded.txt

step "losslab train --epochs 1 --no-plots (NumPy alone)"
losslab train --epochs 1 --no-plots --out out-bare > train.txt || { cat train.txt; fail "losslab train"; }
for f in history.csv history.json model.npz; do
    test -s "out-bare/$f" || fail "losslab train wrote no out-bare/$f"
done

step "losslab train --epochs 1 with the plot extra"
"$VPY" -m pip install --quiet --disable-pip-version-check "${WHEEL}[plot]" || fail "pip install the wheel with [plot]"
losslab train --epochs 1 --out out > train.txt || { cat train.txt; fail "losslab train"; }
for f in history.csv history.json model.npz loss.png accuracy.png; do
    test -s "out/$f" || fail "losslab train wrote no out/$f"
done
tail -n 2 train.txt
step "all checks passed"
