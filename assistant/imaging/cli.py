"""`python -m assistant images train|sample|inpaint|eval|list`: the image tools on the command line."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from assistant.config import Settings


def add_parser(subparsers) -> None:  # noqa: ANN001 - argparse's private subparsers type
    images = subparsers.add_parser("images", help="image models (VAE, GAN, diffusion, masked SSL): train, sample, "
                                   "inpaint, eval")
    sub = images.add_subparsers(dest="images_command", required=True)

    train = sub.add_parser("train", help="train a model (in the foreground; --background starts a job)")
    train.add_argument("model", help="vae | gan | diffusion | ssl (or e.g. gan-shapes)")
    train.add_argument("--dataset", default="digits", help="digits | shapes | folder")
    train.add_argument("--folder", default=None, help="for --dataset folder: one sub-folder per class")
    train.add_argument("--name", default=None, help="checkpoint name (default <model>-<dataset>)")
    train.add_argument("--epochs", type=int, default=20)
    train.add_argument("--batch-size", type=int, default=64)
    train.add_argument("--lr", type=float, default=None)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    train.add_argument("--background", action="store_true", help="start a job and print its id")
    train.add_argument("--json", action="store_true")

    sample = sub.add_parser("sample", help="draw images for a prompt")
    sample.add_argument("--model", default="auto",
                        help="e.g. diffusion-shapes, gan-digits, vae-shapes; auto picks from the prompt")
    sample.add_argument("--prompt", default=None,
                        help="'digit 7', 'two small red triangles and a large blue circle', '画一个数字3'")
    sample.add_argument("--n", type=int, default=None, help="how many (default: the prompt's count or 4)")
    sample.add_argument("--seed", type=int, default=None, help="image i gets seed+i; the same seed redraws them")
    sample.add_argument("--temperature", type=float, default=None,
                        help="noise scale (default: the model's, 1.0): lower = more typical, higher = more varied")
    sample.add_argument("--guidance", type=float, default=None, help="diffusion: classifier-free guidance scale")
    sample.add_argument("--steps", type=int, default=None, help="diffusion: DDIM sampling steps")
    sample.add_argument("--like", type=int, default=None, help="an image's seed: draw more like that image")
    sample.add_argument("--variation", type=float, default=0.3, help="with --like: 0 = the same, 1 = unrelated")
    sample.add_argument("--out", default=None, help="folder for the PNGs (one per image)")
    sample.add_argument("--json", action="store_true")

    inpaint = sub.add_parser("inpaint", help="hide patches and fill them in (original / masked / filled rows)")
    inpaint.add_argument("--model", default="ssl-digits")
    inpaint.add_argument("--image", default=None, help="an image file; default: test images of the model's dataset")
    inpaint.add_argument("--mask-ratio", type=float, default=0.25)
    inpaint.add_argument("--mask", choices=["patches", "block"], default="patches")
    inpaint.add_argument("--seed", type=int, default=0)
    inpaint.add_argument("--json", action="store_true")

    evaluate = sub.add_parser("eval", help="a model's test-split metrics and evaluation grids")
    evaluate.add_argument("model")
    evaluate.add_argument("--recompute", action="store_true", help="recompute instead of reading the card")
    evaluate.add_argument("--json", action="store_true")

    sub.add_parser("list", help="available image models").add_argument("--json", action="store_true")
    images.set_defaults(handler=run)


def _print(result: dict | list, as_json: bool, text: str) -> None:
    print(json.dumps(result, ensure_ascii=False, indent=2, default=str) if as_json else text)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from assistant.imaging import service

    command = args.images_command
    if command == "sample":
        out = Path(args.out) if args.out else None
        result = service.generate_images(args.model, args.prompt, args.n, args.seed, settings=settings,
                                         out_dir=out, temperature=args.temperature, guidance=args.guidance,
                                         steps=args.steps, like=args.like, variation=args.variation)
        if out is not None:  # the folder holds exactly one PNG per image
            grid = Path(result["grid"])
            if grid.name == "grid.png":
                grid.unlink(missing_ok=True)
                result["grid"] = None
        payload = {"files": result["files"], "condition": result["condition"], "model": result["model"],
                   "n": result["n"], "seed": result["seed"], "image_seeds": result["image_seeds"],
                   "capped": result["capped"], "sampling": result["sampling"], "originals": result["originals"],
                   "unknown_words": result["unknown_words"]}
        _print(payload, args.json, result["summary"] + "\n" + "\n".join(result["files"]))
        return 0
    if command == "train":
        if args.background:
            result = service.train_image_model(args.model, args.dataset, args.epochs, folder=args.folder,
                                               name=args.name, batch_size=args.batch_size, seed=args.seed,
                                               lr=args.lr, device=args.device, settings=settings)
            _print(result, args.json, f"started job {result['job_id']} training {result['name']}")
            return 0
        return _train_foreground(args, settings)
    if command == "inpaint":
        result = service.inpaint(args.image, args.mask_ratio, args.model, args.seed, args.mask, settings=settings)
        _print(result, args.json, result["summary"] + f"\n{result['grid']}")
        return 0
    if command == "eval":
        result = service.evaluate_image_model(args.model, recompute=args.recompute, settings=settings)
        lines = [f"{result['model']} ({result['kind']} on {result['dataset']})"]
        lines += [f"  {k}: {v}" for k, v in result["metrics"].items()] + [f"  file: {f}" for f in result["files"]]
        _print(result, args.json, "\n".join(lines))
        return 0
    models = service.list_image_models(settings)
    _print(models, args.json, "\n".join(f"{m['name']:<16} {m['kind'] or '?':<4} {m['dataset'] or '?':<10} "
                                        f"{'shipped' if m['shipped'] else 'yours'}" for m in models))
    return 0


def _train_foreground(args: argparse.Namespace, settings: Settings) -> int:
    import sys

    from assistant.imaging.engine import TrainConfig, train

    kind, dataset = args.model, args.dataset
    if "-" in kind:
        kind, dataset = kind.split("-", 1)
    cfg = TrainConfig(model=kind, dataset=dataset, folder=args.folder, name=args.name, epochs=args.epochs,
                      batch_size=args.batch_size, seed=args.seed, device=args.device,
                      hp={"lr": args.lr} if args.lr else {})
    width = shutil.get_terminal_size().columns

    def progress(fraction: float, message: str) -> None:
        if not args.json:
            sys.stderr.write(f"\r{fraction:6.1%} {message}"[:width])
            sys.stderr.flush()

    card = train(cfg, settings, progress=progress)
    if not args.json:
        sys.stderr.write("\n")
    _print(card, args.json, f"saved {card['path']} in {card['train_seconds']} s\n"
           + "\n".join(f"  {k}: {v}" for k, v in card.get("metrics", {}).items()))
    return 0
