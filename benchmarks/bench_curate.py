"""Curate throughput on real footage, as a ratio to decoding the same files, and where its time goes.

Part 1, throughput. The whole ``curate.curate(run)`` stage (face models loaded, shots cut, every
clip scored, accepted clips and their audio written, manifest and coverage report) over three
sources: tears_of_steel_10s.mp4, sintel_10s.mp4 and a 5 s 640x360 video muxed in a temporary
folder from Tears of Steel frames 65-184 with tests/data/speech_en.wav as its sound (so the audio
path runs too). The character's reference is frame 100 of Tears of Steel (the man with glasses),
so his clips are accepted and written like a real dataset's. Baseline, measured in the same run:
decoding every frame of the same files at source size with decord (sequential batches).
Curate settings: the defaults, except ``resolution: 352`` (the footage is 640x360; the 512 default
would reject every clip as too small before reading a frame) and, in a second pass,
``clip_frames: 25`` (the 121 default is longer than most shots of this footage, so most of it would
be rejected as too short without being scored; 25 scores nearly everything). Target: curate
<= 3x decoding. ``--profile`` adds a cProfile of the second pass.

Part 2, components. Shot-cut detection over a whole video and dlib face analysis at three short
sides (64, 128, 480 px) as ratios to decoding Tears of Steel's 240 frames, with faces found and
identity distances: the reason curate scores faces at up to 480 px rather than at the training size.
Run: ``make bench`` or ``.venv/bin/python benchmarks/bench_curate.py [--profile]``.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from ltxbench import faces
from ltxbench.curate import shots, stage
from ltxbench.media import audio
from ltxbench.media import frames as media_frames
from ltxbench.media import video
from ltxbench.run import folder as run_folder

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
VIDEO = DATA / "tears_of_steel_10s.mp4"


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _decode_all(paths: list[Path]) -> None:
    """Every frame of every file at source size, decord, sequential batches of 64."""
    import decord

    for path in paths:
        reader = decord.VideoReader(str(path), ctx=decord.cpu(0))
        for lo in range(0, len(reader), 64):
            reader.get_batch(list(range(lo, min(len(reader), lo + 64)))).asnumpy()


def _talking_video(folder: Path) -> Path:
    """Tears of Steel frames 65-184 (one shot of the man with glasses) with 5 s of speech, AAC."""
    import av

    frames = video.read_frames(VIDEO, range(65, 185))
    speech, rate = audio.read_audio(DATA / "speech_en.wav", 0.0, 5.0)
    path = folder / "talking.mp4"
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=24, options={"crf": "18"})
        v.width, v.height, v.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        a = out.add_stream("aac", rate=rate, layout="mono")
        for f in frames:
            out.mux(v.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        out.mux(v.encode(None))
        pcm = np.round(speech[0] * 32767).astype(np.int16)
        for k in range(0, pcm.size, 1024):
            frame = av.AudioFrame.from_ndarray(pcm[None, k:k + 1024], format="s16", layout="mono")
            frame.sample_rate, frame.pts = rate, k
            out.mux(a.encode(frame))
        out.mux(a.encode(None))
    return path


def _run(folder: Path, name: str, sources: list[Path], reference: Path, curate_cfg: dict) -> run_folder.Run:
    raw = {
        "run": {"name": name, "seed": 1},
        "model": {"version": "2.3", "source": "tiny"},
        "dataset": {"characters": [{"name": "glasses", "trigger": "glsx", "references": [str(reference)],
                                    "media": [str(p) for p in sources]}]},
        "curate": curate_cfg,
    }
    params = folder / f"{name}.yaml"
    params.write_text(yaml.safe_dump(raw, sort_keys=False))
    return run_folder.open_run(folder / name, params)


def throughput(profile: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-curate-") as tmp:
        folder = Path(tmp)
        reference = folder / "glasses_ref.png"
        from PIL import Image

        Image.fromarray(video.read_frames(VIDEO, [100])[0]).save(reference)
        sources = [VIDEO, DATA / "sintel_10s.mp4", _talking_video(folder)]
        footage_s = sum(video.probe(p).duration_s for p in sources)
        t_decode, _ = _timed(lambda: _decode_all(sources))
        t_models, _ = _timed(lambda: faces.FaceAnalyzer(shape68=True))
        print(f"footage: {len(sources)} videos, {footage_s:.1f} s; decode-only baseline "
              f"{footage_s / t_decode:.1f} s of footage per s of wall time (decord, every frame, source size)")
        print(f"face models load in {t_models / t_decode:.2f}x the decode time (included in curate below)")
        # workers 1 = the serial path; the default (0 = auto) uses min(2, cores) processes.
        for label, cfg in (("defaults, resolution 352, workers 1", {"resolution": 352, "workers": 1}),
                           ("defaults, resolution 352", {"resolution": 352}),
                           ("defaults, resolution 352, clip_frames 25, workers 1", {"resolution": 352, "clip_frames": 25, "workers": 1}),
                           ("defaults, resolution 352, clip_frames 25", {"resolution": 352, "clip_frames": 25})):
            run = _run(folder, f"r{abs(hash(label)) % 10**8}", sources, reference, cfg)
            prof = cProfile.Profile() if profile and "25" in label and "workers 1" in label else None
            if prof:
                prof.enable()
            t_curate, result = _timed(lambda: stage.curate(run))
            if prof:
                prof.disable()
            n_acc = len(result.accepted)
            print(f"curate ({label}): {footage_s / t_curate:.1f} s of footage per s; "
                  f"{t_curate / t_decode:.2f}x the decode-only pass; {len(result.records)} clips, {n_acc} accepted")
            if prof:
                out = io.StringIO()
                pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(35)
                print(out.getvalue())


def components() -> None:
    info = video.probe(VIDEO)
    baseline, _ = _timed(lambda: video.read_frames(VIDEO, range(info.num_frames)))
    print(f"baseline: decode {info.num_frames} frames {info.width}x{info.height}: 1.00")
    t_cuts, cuts = _timed(lambda: shots.detect_cuts(VIDEO, detector="content"))
    print(f"detect_cuts, content (found {cuts}): {t_cuts / baseline:.2f} (TransNetV2: benchmarks/bench_shots.py)")
    analyzer = faces.FaceAnalyzer()
    analyzer.largest(np.zeros((64, 64, 3), np.uint8))  # load the models outside the timing
    refs = faces.reference_embeddings([DATA / "obama_1.jpg"], analyzer=analyzer)
    photos = {name: video.read_image(DATA / name) for name in ("obama_2.jpg", "obama_3.jpg", "biden_1.jpg")}
    for short in (64, 128, 480):
        def analyze():
            out = {}
            for name, img in photos.items():
                h, w = img.shape[:2]
                size = (short, int(round(h * short / w / 2) * 2)) if w < h else (int(round(w * short / h / 2) * 2), short)
                face = analyzer.largest(media_frames.resize_crop(img, *size))
                out[name] = None if face is None else round(faces.identity_distance(face.embedding, refs), 3)
            return out
        t, found = _timed(analyze)
        print(f"face analysis of 3 photos at short side {short:>3} px: {t / baseline:.2f}; distance to obama_1 "
              f"(same person < 0.6, None = no face found): {found}")


def main() -> None:
    throughput(profile="--profile" in sys.argv)
    print()
    components()


if __name__ == "__main__":
    main()
