"""Images per second of the model plugins, one section per pipeline stage.

    python benchmarks/gpu_throughput.py                         # every stage, scale auto
    python benchmarks/gpu_throughput.py --stages generation --scale tiny --n 8
    python benchmarks/gpu_throughput.py --sd-model /models/sd21-base --biggan-model biggan-deep-256

``--scale full`` (the default on a CUDA device): the paper's sizes — Stable Diffusion 2.1-base,
512 x 512, 25 DPM-Solver++ steps, fp16; BigGAN-deep-256 — through the plugins' public configs.
Without ``--sd-model`` / ``--biggan-model`` (nothing can be downloaded on the benchmark machines)
the models are the released layouts with random weights, saved to a temp directory and loaded
back like downloads: the compute, hence the throughput, is the real models'. ``--scale tiny``
(the default on CPU) runs the tests' toy models, which say nothing about real speed; they keep
the script runnable anywhere.

Every row is compared with a baseline measured in this process: batch size 1 for generation
(what batching buys), and for BigGAN also ``decode`` with a backward pass (what one step of the
``mds`` latent search costs) against plain generation. Times exclude loading and one warm-up
batch; CUDA is synchronised around each timing.

Stages: ``generation`` (sd21, biggan), ``classification`` (timm: batch 1 vs B, ``features``,
a backward pass to the images as in ``mds``), ``filtering`` (openclip rank mode among ``--prompts``
subdomain prompts: batch 1 vs B, first call with the prompts encoded vs cached). A stage whose
plugin is not installed is skipped with a note. ``STAGES`` maps a stage name to a function
``stage(ctx) -> list[Row]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from fxcore.models import resolve_device
from fxcore.plugins import Registry


@dataclass
class Row:
    """One measurement: ``n`` images in ``seconds``; ``ratio`` against the section's baseline."""

    stage: str
    component: str
    setting: str
    size: str
    n: int
    seconds: float
    baseline: str = ""
    ratio: float | None = None

    @property
    def images_per_s(self) -> float:
        return self.n / self.seconds if self.seconds > 0 else float("inf")


@dataclass
class Context:
    """What every stage gets: arguments, device, scale, a registry and a scratch directory."""

    args: argparse.Namespace
    device: torch.device
    scale: str
    registry: Registry
    workdir: Path
    notes: list[str] = field(default_factory=list)

    def create(self, kind: str, name: str, **params: Any) -> Any:
        spec = {"name": name, "params": {"device": str(self.device), **params}}
        return self.registry.create(kind, spec, where=name)


def timed(device: torch.device, fn: Callable[[], object]) -> float:
    """Seconds for ``fn()``, CUDA work included."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - t0


def with_ratios(rows: list[Row], baseline: Row) -> list[Row]:
    """Throughput of each row over the baseline's (>1: faster)."""
    for row in rows:
        row.baseline = f"{baseline.component} {baseline.setting}"
        row.ratio = row.images_per_s / baseline.images_per_s
    return rows


# ---------------------------------------------------------------------------- generation


def sd21_model(ctx: Context) -> str:
    if ctx.args.sd_model:
        return ctx.args.sd_model
    from fxcore_sd21.testing import save_tiny_pipeline

    path = ctx.workdir / f"sd21-{ctx.scale}"
    if ctx.scale == "full":
        ctx.notes.append("sd21: SD 2.1-base layout, random weights (no download possible)")
        half = torch.float16 if ctx.device.type == "cuda" else torch.float32
        return str(save_tiny_pipeline(path, arch="sd21-base", dtype=half))
    ctx.notes.append("sd21: toy model (32 px), not indicative of real speed")
    return str(save_tiny_pipeline(path, sample_size=16))


def bench_sd21(ctx: Context) -> list[Row]:
    n, batch = ctx.args.n, ctx.args.batch_size
    params = dict(model=sd21_model(ctx), steps=ctx.args.steps, scheduler="dpm++")
    if ctx.scale == "full":
        params |= dict(height=512, width=512)
    rows = []
    for bs in (1, batch):
        gen = ctx.create("generator", "sd21", batch_size=bs, **params)
        gen.generate("a photo of a dog", {}, min(bs, n), seed=0)  # load + warm-up
        h, w = gen.output_size()
        seconds = timed(ctx.device, lambda g=gen: g.generate("a photo of a dog", {}, n, seed=1))
        setting = f"batch {bs}, {ctx.args.steps} steps, {gen.dtype}".replace("torch.", "")
        rows.append(Row("generation", "sd21", setting, f"{h}x{w}", n, seconds))
        del gen
    return with_ratios(rows, rows[0])


def biggan_model(ctx: Context) -> str:
    if ctx.args.biggan_model:
        return ctx.args.biggan_model
    from fxcore_biggan.testing import save_tiny_biggan

    path = ctx.workdir / f"biggan-{ctx.scale}"
    if ctx.scale == "full":
        ctx.notes.append("biggan: BigGAN-deep-256 layout, random weights (no download possible)")
        return str(save_tiny_biggan(path, resolution=256, full=True))
    ctx.notes.append("biggan: toy model (32 px), not indicative of real speed")
    return str(save_tiny_biggan(path))


def bench_biggan(ctx: Context) -> list[Row]:
    n, batch = ctx.args.n_gan, ctx.args.batch_size_gan
    model = biggan_model(ctx)
    rows = []
    for bs in (1, batch):
        gen = ctx.create("generator", "biggan", model=model, condition=207, batch_size=bs)
        gen.generate("", {}, bs, seed=0)  # load + warm-up
        seconds = timed(ctx.device, lambda g=gen: g.generate("", {}, n, seed=1))
        size = f"{gen.resolution}x{gen.resolution}"
        rows.append(Row("generation", "biggan", f"batch {bs}", size, n, seconds))

    def decode_backward(g: Any = gen) -> None:
        for start in range(0, n, batch):
            z = g.sample_latent(min(batch, n - start), seed=start).requires_grad_(True)
            (g.decode(z).mean() - g.log_prior(z).mean()).backward()

    decode_backward()  # warm-up of the autograd path
    seconds = timed(ctx.device, decode_backward)
    rows.append(Row("generation", "biggan", f"decode+backward, batch {batch}", size, n, seconds))
    return with_ratios(rows, rows[0])


def stage_generation(ctx: Context) -> list[Row]:
    return bench_sd21(ctx) + bench_biggan(ctx)


# ---------------------------------------------------------------------------- classification


def installed(ctx: Context, module: str, stage: str) -> bool:
    """Is the plugin ``module`` importable? If not, note that its section is skipped."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        ctx.notes.append(f"{stage}: {module} not installed, skipped")
        return False
    return True


def timm_checkpoint(ctx: Context) -> tuple[str, str]:
    """``(model name, checkpoint file)``: the user's, else random weights saved like a download."""
    from fxcore_timm.testing import save_tiny_timm

    if ctx.args.timm_checkpoint:
        return ctx.args.timm_model or "resnet50", ctx.args.timm_checkpoint
    name = ctx.args.timm_model or ("resnet50" if ctx.scale == "full" else "test_resnet")
    what = "real layout" if ctx.scale == "full" else "toy model, not indicative of real speed"
    ctx.notes.append(f"timm: {name}, random weights ({what})")
    path = save_tiny_timm(ctx.workdir / f"timm-{name}.safetensors", model=name, num_classes=1000)
    return name, str(path)


def stage_classification(ctx: Context) -> list[Row]:
    """timm ``predict_proba`` at batch 1 and B, ``features``, and a backward pass (an mds step)."""
    if not installed(ctx, "fxcore_timm", "classification"):
        return []
    n, batch = ctx.args.n_cls, ctx.args.batch_size_cls
    name, ckpt = timm_checkpoint(ctx)
    side = 512 if ctx.scale == "full" else 32  # what the generator hands over
    images = torch.rand(n, 3, side, side, device=ctx.device)
    rows = []
    for bs in (1, batch):
        clf = ctx.create("classifier", "timm", model=name, checkpoint=ckpt, batch_size=bs)
        clf.predict_proba(images[:bs])  # warm-up
        size = "x".join(map(str, clf.transform.size))
        seconds = timed(ctx.device, lambda c=clf: c.predict_proba(images))
        rows.append(Row("classify", f"timm {name}", f"predict_proba, batch {bs}", size, n, seconds))
    clf.features(images[:batch])
    seconds = timed(ctx.device, lambda: clf.features(images))
    rows.append(Row("classify", f"timm {name}", f"features, batch {batch}", size, n, seconds))

    def backward() -> None:
        for start in range(0, n, batch):
            x = images[start : start + batch].clone().requires_grad_(True)
            clf.predict_proba(x)[:, 0].sum().backward()

    backward()
    seconds = timed(ctx.device, backward)
    rows.append(
        Row("classify", f"timm {name}", f"+ backward to images, batch {batch}", size, n, seconds)
    )
    return with_ratios(rows, rows[0])


# ---------------------------------------------------------------------------- filtering


def clip_model(ctx: Context) -> dict[str, Any]:
    """Params of the openclip filter: the user's model, else random weights, no download."""
    if ctx.args.clip_model:
        return dict(model=ctx.args.clip_model, pretrained=ctx.args.clip_pretrained)
    if ctx.scale == "full":
        ctx.notes.append("openclip: ViT-L-14 layout, random weights (no download possible)")
        return dict(model="ViT-L-14", pretrained=None)
    from fxcore_openclip.testing import TINY_NAME, save_tiny_clip

    ctx.notes.append("openclip: toy model (32 px), not indicative of real speed")
    config, weights = save_tiny_clip(ctx.workdir / "clip")
    return dict(model=TINY_NAME, model_config_file=str(config), pretrained=str(weights))


def filter_domain(n_prompts: int) -> Any:
    """A dog domain with about ``n_prompts`` subdomains (the paper scores 1000+ prompts)."""
    from fxcore.schemas import EvaluationDomain

    k = max(2, round(n_prompts ** (1 / 3)))
    return EvaluationDomain(
        name=f"bench-{k**3}",
        prompt_template="a photo of a {true_class}, {a}, {b}, {c}",
        true_class="dog",
        attributes=[{"name": x, "values": [f"{x}{i}" for i in range(k)]} for x in "abc"],
    )


def stage_filtering(ctx: Context) -> list[Row]:
    """openclip ``keep`` (rank mode): batch 1 vs B, the domain's text embeddings cold vs cached."""
    if not installed(ctx, "fxcore_openclip", "filtering"):
        return []
    from fxcore.domain import SubdomainSpace

    n, batch = ctx.args.n_filter, ctx.args.batch_size_filter
    params = clip_model(ctx)
    domain = filter_domain(ctx.args.prompts)
    sub = SubdomainSpace(domain)[0]
    side = 512 if ctx.scale == "full" else 32
    images = torch.rand(n, 3, side, side, device=ctx.device)
    rows = []
    for bs in (1, batch):
        flt = ctx.create("filter", "openclip", batch_size=bs, **params)
        size = "x".join(map(str, flt.transform.size))
        label = "openclip " + str(params["model"])
        if bs == batch:  # first keep() encodes the domain's prompts
            seconds = timed(ctx.device, lambda f=flt: f.keep(images, sub, domain))
            rows.append(
                Row(
                    "filter",
                    label,
                    f"rank, {len(SubdomainSpace(domain))} prompts encoded, batch {bs}",
                    size,
                    n,
                    seconds,
                )
            )
        flt.keep(images[:bs], sub, domain)  # warm-up (text embeddings cached)
        seconds = timed(ctx.device, lambda f=flt: f.keep(images, sub, domain))
        rows.append(Row("filter", label, f"rank, prompts cached, batch {bs}", size, n, seconds))
    return with_ratios(rows, rows[0])


#: stage name -> function
STAGES: dict[str, Callable[[Context], list[Row]]] = {
    "generation": stage_generation,
    "classification": stage_classification,
    "filtering": stage_filtering,
}


# ---------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stages", default=",".join(STAGES), help=f"comma list of {list(STAGES)}")
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    ap.add_argument("--scale", choices=["auto", "tiny", "full"], default="auto")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads (torch.set_num_threads)")
    ap.add_argument("--n", type=int, default=None, help="SD images per timing")
    ap.add_argument("--batch-size", type=int, default=8, help="SD batch size compared with 1")
    ap.add_argument("--steps", type=int, default=25, help="SD sampling steps")
    ap.add_argument("--n-gan", type=int, default=None, help="BigGAN images per timing")
    ap.add_argument("--batch-size-gan", type=int, default=32)
    ap.add_argument("--sd-model", help="a real SD 2.1 directory or hub id (else random weights)")
    ap.add_argument("--biggan-model", help="a real BigGAN directory or name (else random)")
    ap.add_argument("--n-cls", type=int, default=None, help="images per classification timing")
    ap.add_argument("--batch-size-cls", type=int, default=64)
    ap.add_argument("--timm-model", help="timm model name (default resnet50 / test_resnet)")
    ap.add_argument("--timm-checkpoint", help="a real weights file for --timm-model")
    ap.add_argument("--n-filter", type=int, default=None, help="images per filtering timing")
    ap.add_argument("--batch-size-filter", type=int, default=64)
    ap.add_argument("--prompts", type=int, default=1000, help="subdomain prompts to rank among")
    ap.add_argument("--clip-model", help="open_clip model name (else random weights)")
    ap.add_argument("--clip-pretrained", help="tag or checkpoint file for --clip-model")
    ap.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    args = ap.parse_args(argv)
    unknown = sorted(set(args.stages.split(",")) - set(STAGES))
    if unknown:
        ap.error(f"--stages: unknown {unknown}; choose from {list(STAGES)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device, where="--device")
    scale = args.scale if args.scale != "auto" else ("full" if device.type == "cuda" else "tiny")
    args.n = args.n or (2 * args.batch_size if scale == "full" else 8)
    args.n_gan = args.n_gan or (4 * args.batch_size_gan if scale == "full" else 64)
    args.n_cls = args.n_cls or (4 * args.batch_size_cls if scale == "full" else 16)
    args.n_filter = args.n_filter or (4 * args.batch_size_filter if scale == "full" else 16)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    print(
        f"device {device} ({name or 'cpu'}), torch {torch.__version__}, scale {scale}, "
        f"{args.threads} CPU threads"
    )
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="fx-gpu-bench-") as tmp:
        ctx = Context(args, device, scale, Registry.load(), Path(tmp))
        for stage in args.stages.split(","):
            rows += STAGES[stage](ctx)
    for note in ctx.notes:
        print(f"note: {note}")
    print(
        f"{'stage':<11} {'component':<9} {'setting':<34} {'size':>9} {'n':>4} "
        f"{'s':>8} {'img/s':>8}  vs baseline"
    )
    for r in rows:
        ratio = f"x{r.ratio:.2f} vs {r.baseline}" if r.ratio is not None else ""
        print(
            f"{r.stage:<11} {r.component:<9} {r.setting:<34} {r.size:>9} {r.n:>4} "
            f"{r.seconds:>8.2f} {r.images_per_s:>8.2f}  {ratio}"
        )
    if args.json:
        doc = {
            "device": str(device),
            "name": name,
            "scale": scale,
            "torch": torch.__version__,
            "notes": ctx.notes,
            "rows": [asdict(r) | {"images_per_s": r.images_per_s} for r in rows],
        }
        Path(args.json).write_text(json.dumps(doc, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
