"""``discover doctor``: what this machine offers a run (Docker, images, GPUs, models)."""

from __future__ import annotations

from collections.abc import Sequence

from workspace.docker_spec import DEFAULT_IMAGE


def doctor_report(image: str = DEFAULT_IMAGE, extra: Sequence[tuple[str, str]] = ()) -> str:
    """A short report, one line per subject. ``extra`` holds (subject, text) lines from the
    caller, e.g. configured models and whether their API keys are present: this package
    knows nothing about LLMs, so the CLI adds them."""
    from workspace.docker import engine_status, image_status
    from workspace.gpus import detect_gpus

    lines: list[tuple[str, str]] = []
    engine_ok, engine = engine_status()
    fallback = ("local for the offline agent; with a model, runs stop unless you pass --workspace local "
                "(model-written code would run unsandboxed)")
    if engine_ok:
        image_ok, image_text = image_status(image)
        lines.append(("docker", f"{engine} answers; {image_text}"))
        workspace = "docker" if image_ok else f"{fallback}; docker once {image} is built or pulled"
    else:
        lines.append(("docker", f"{engine}; scripts/docker-engine.sh starts one (as root)"))
        workspace = fallback
    lines.append(("workspace", f"auto picks {workspace}"))
    from workspace.factory import limits, settings
    from workspace.limits import size_text
    from workspace.local import LocalWorkspace

    sized = limits(settings(workers=2))
    lines.append(("limits", f"per node, with 2 workers: {size_text(sized.disk)} disk (--node-disk); Docker: "
                            f"{size_text(sized.memory)} memory (--node-memory), {size_text(sized.shm)} /dev/shm "
                            "(--node-shm)"))
    lines.append(("local", LocalWorkspace(disk_limit=sized.disk).isolation()))
    gpus = detect_gpus()
    if gpus:
        for gpu in gpus:
            memory = f", {gpu.memory_mb} MiB" if gpu.memory_mb else ""
            lines.append(("gpu", f"{gpu.index}: {gpu.name or 'NVIDIA GPU'}{memory}"))
    else:
        lines.append(("gpus", "none detected (no NVML, no working nvidia-smi)"))
    lines.extend(extra)
    width = max(len(subject) for subject, _ in lines)
    return "\n".join(f"{subject:<{width}}  {text}" for subject, text in lines)
