"""Audio into the LTX-2 audio latent space: waveform -> log-mel spectrogram -> audio VAE latents.

The LTX-2 audio VAE (diffusers' ``AutoencoderKLLTX2Audio``) encodes a *spectrogram*, not a
waveform, and diffusers 0.42.1 ships no preprocessing for it (it only decodes). The spectrogram
is the one the LTX-2 audio VAE was trained on (Lightricks' ltx-core audio processor, the same
settings SimpleTuner's LTX-2 port uses): the VAE's sample rate (16 kHz), a Hann window of
``n_fft = 1024`` samples, hop ``audio_vae.config.mel_hop_length`` (160, so 100 mel frames/s),
centred frames with reflect padding, *magnitude* (power 1) STFT, ``mel_bins`` (64) Slaney-scale
mel filters from 0 Hz to Nyquist with Slaney area normalisation, then ``log(max(mel, 1e-5))``.
Stereo in, because the VAE has two input channels (a mono wav is duplicated).

Latents come out as ``[1, 8, L, 16]`` (8 channels x 16 latent mel bins, 25 latents/s),
normalised in the packed ``[1, L, 128]`` space with the VAE's ``latents_mean`` / ``latents_std``
exactly as ``LTX2Pipeline`` does (``_normalize_audio_latents``), so they sit in the space the
transformer denoises and the pipeline decodes.

No torchaudio/librosa here (neither is a dependency): the STFT is ``torch.stft`` and the
Slaney filterbank is written out below.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

N_FFT = 1024
LOG_FLOOR = 1e-5


def _hz_to_mel_slaney(hz: Any) -> Any:
    """Slaney's mel scale: linear (3 mels per 200 Hz) below 1 kHz, logarithmic above."""
    import torch

    hz = torch.as_tensor(hz, dtype=torch.float64)
    f_sp = 200.0 / 3
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, math.log(6.4) / 27.0
    linear = hz / f_sp
    log_part = min_log_mel + torch.log(torch.clamp(hz, min=1e-10) / min_log_hz) / logstep
    return torch.where(hz >= min_log_hz, log_part, linear)


def _mel_to_hz_slaney(mel: Any) -> Any:
    import torch

    f_sp = 200.0 / 3
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, math.log(6.4) / 27.0
    return torch.where(mel >= min_log_mel, min_log_hz * torch.exp(logstep * (mel - min_log_mel)), f_sp * mel)


def mel_filterbank(sample_rate: int, n_fft: int = N_FFT, n_mels: int = 64) -> torch.Tensor:
    """Triangular Slaney-scale filters ``[n_mels, n_fft // 2 + 1]`` over 0..Nyquist, each scaled to
    unit area (``2 / bandwidth``), so louder bands are not favoured by wider filters."""
    import torch

    freqs = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    m_lo, m_hi = _hz_to_mel_slaney(0.0), _hz_to_mel_slaney(sample_rate / 2)
    edges = _mel_to_hz_slaney(torch.linspace(float(m_lo), float(m_hi), n_mels + 2, dtype=torch.float64))
    width = edges[1:] - edges[:-1]
    rel = edges[None, :] - freqs[:, None]  # [freqs, n_mels + 2]
    rising = -rel[:, :-2] / width[:-1]
    falling = rel[:, 2:] / width[1:]
    fb = torch.clamp(torch.minimum(rising, falling), min=0.0)
    fb = fb * (2.0 / (edges[2:] - edges[:-2]))[None, :]
    return fb.T.float().contiguous()


def mel_frequencies(sample_rate: int, n_mels: int = 64) -> torch.Tensor:
    """Centre frequency (Hz) of each mel filter of :func:`mel_filterbank`."""
    import torch

    m_hi = float(_hz_to_mel_slaney(sample_rate / 2))
    return _mel_to_hz_slaney(torch.linspace(0.0, m_hi, n_mels + 2, dtype=torch.float64))[1:-1].float()


def log_mel(waveform: torch.Tensor, sample_rate: int, hop_length: int = 160, n_mels: int = 64,
            n_fft: int = N_FFT) -> torch.Tensor:
    """Waveform ``[C, T]`` (float, ±1) at ``sample_rate`` -> log-mel ``[C, 1 + T // hop, n_mels]``."""
    import torch

    if waveform.ndim != 2:
        raise ValueError(f"expected a waveform [channels, samples], got shape {tuple(waveform.shape)}")
    if waveform.shape[1] <= n_fft // 2:
        raise ValueError(f"audio of {waveform.shape[1]} samples is shorter than half an STFT window ({n_fft // 2})")
    spec = torch.stft(waveform.float(), n_fft=n_fft, hop_length=hop_length, win_length=n_fft,
                      window=torch.hann_window(n_fft, device=waveform.device), center=True, pad_mode="reflect",
                      return_complex=True).abs()  # [C, n_fft/2+1, frames]
    mel = mel_filterbank(sample_rate, n_fft, n_mels).to(spec.device) @ spec  # [C, n_mels, frames]
    return torch.log(torch.clamp(mel, min=LOG_FLOOR)).transpose(1, 2).contiguous()


def read_waveform(path: Path, sample_rate: int, start_s: float = 0.0, duration_s: float | None = None,
                  channels: int = 2) -> torch.Tensor:
    """Decode an audio file with PyAV, resampled to ``sample_rate`` and ``channels`` (mono is
    duplicated, more channels are down-mixed): float32 ``[channels, T]`` in [-1, 1].

    ValueError naming the file when it has no audio stream or cannot be decoded."""
    import av
    import numpy as np
    import torch

    layout = {1: "mono", 2: "stereo"}[channels]
    chunks = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise ValueError(f"{path}: no audio stream")
            resampler = av.AudioResampler(format="fltp", layout=layout, rate=sample_rate)
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray())
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray())
    except av.error.FFmpegError as exc:
        raise ValueError(f"{path}: cannot decode audio ({exc})") from exc
    if not chunks:
        raise ValueError(f"{path}: the audio stream is empty")
    samples = np.concatenate(chunks, axis=1).astype(np.float32)
    first = int(round(start_s * sample_rate))
    last = None if duration_s is None else first + int(round(duration_s * sample_rate))
    return torch.from_numpy(np.ascontiguousarray(samples[:, first:last]))


def encode_audio(pipe: Any, waveform: torch.Tensor) -> torch.Tensor:
    """Waveform ``[C, T]`` at the audio VAE's sample rate -> normalised latents ``[1, 8, L, 16]``
    (posterior mode, float32, no gradients)."""
    import torch

    vae = pipe.audio_vae
    cfg = vae.config
    if waveform.shape[0] != cfg.in_channels:
        raise ValueError(f"the audio VAE takes {cfg.in_channels} channel(s), got {waveform.shape[0]}")
    mel = log_mel(waveform, cfg.sample_rate, cfg.mel_hop_length, cfg.mel_bins).unsqueeze(0)  # [1, C, frames, mels]
    with torch.no_grad():
        latents = vae.encode(mel.to(device=vae.device, dtype=vae.dtype)).latent_dist.mode()  # [1, 8, L, 16]
        frames, bins = latents.shape[2], latents.shape[3]
        packed = pipe._pack_audio_latents(latents)
        packed = pipe._normalize_audio_latents(packed, vae.latents_mean, vae.latents_std)
        latents = pipe._unpack_audio_latents(packed, frames, num_mel_bins=bins)
    return latents.float().contiguous()


def latents_per_second(pipe: Any) -> float:
    """Audio latents per second of sound (25 for LTX-2: 16 kHz / hop 160 / 4)."""
    return pipe.audio_sampling_rate / pipe.audio_hop_length / float(pipe.audio_vae_temporal_compression_ratio)
