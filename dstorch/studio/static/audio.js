// Microphone and WAV helpers shared by Record and Try: 16 kHz mono through
// getUserMedia and an AudioWorklet, int16 samples, 16-bit WAV files.
"use strict";
const RATE = 16000;

async function openMicrophone(onSamples) {
  // The context runs at 16 kHz: the browser resamples the microphone, so what the page
  // keeps is already what training uses.
  const context = new AudioContext({ sampleRate: RATE });
  await context.audioWorklet.addModule("/static/recorder.js");
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
  });
  const source = context.createMediaStreamSource(stream);
  const node = new AudioWorkletNode(context, "recorder");
  node.port.onmessage = (event) => onSamples(toInt16(event.data));
  const mute = context.createGain();
  mute.gain.value = 0; // the worklet must reach the destination to run, silently
  source.connect(node).connect(mute).connect(context.destination);
  return {
    close() {
      stream.getTracks().forEach((track) => track.stop());
      context.close();
    },
  };
}

function toInt16(floats) {
  const out = new Int16Array(floats.length);
  for (let i = 0; i < floats.length; i++) {
    const x = Math.max(-1, Math.min(1, floats[i]));
    out[i] = x < 0 ? x * 32768 : x * 32767;
  }
  return out;
}

function concatInt16(chunks) {
  const total = chunks.reduce((n, c) => n + c.length, 0);
  const out = new Int16Array(total);
  let at = 0;
  for (const c of chunks) { out.set(c, at); at += c.length; }
  return out;
}

function levelOf(samples) {
  // RMS in dBFS mapped to 0..100 (-60 dB and below: empty bar)
  let sum = 0;
  for (const s of samples) sum += s * s;
  const rms = Math.sqrt(sum / Math.max(samples.length, 1)) / 32768;
  const db = 20 * Math.log10(rms + 1e-9);
  return Math.max(0, Math.min(100, ((db + 60) / 60) * 100));
}

function wavBlob(samples) {
  const buffer = new ArrayBuffer(44 + samples.length * 2);
  const view = new DataView(buffer);
  const text = (at, s) => { for (let i = 0; i < s.length; i++) view.setUint8(at + i, s.charCodeAt(i)); };
  text(0, "RIFF"); view.setUint32(4, 36 + samples.length * 2, true); text(8, "WAVE");
  text(12, "fmt "); view.setUint32(16, 16, true); view.setUint16(20, 1, true);
  view.setUint16(22, 1, true); view.setUint32(24, RATE, true); view.setUint32(28, RATE * 2, true);
  view.setUint16(32, 2, true); view.setUint16(34, 16, true);
  text(36, "data"); view.setUint32(40, samples.length * 2, true);
  for (let i = 0; i < samples.length; i++) view.setInt16(44 + i * 2, samples[i], true);
  return new Blob([buffer], { type: "audio/wav" });
}

function drawWave(canvas, samples, span) {
  const g = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height;
  g.clearRect(0, 0, w, h);
  if (span) { // the speech the trim keeps
    g.fillStyle = "#d8f3dc";
    g.fillRect((span.start * RATE / samples.length) * w, 0, ((span.end - span.start) * RATE / samples.length) * w, h);
  }
  g.strokeStyle = "#1d3557";
  g.beginPath();
  const step = Math.max(1, Math.floor(samples.length / w));
  for (let x = 0; x < w; x++) {
    let peak = 0;
    for (let i = x * step; i < Math.min(samples.length, (x + 1) * step); i++) peak = Math.max(peak, Math.abs(samples[i]));
    const y = (peak / 32768) * (h / 2);
    g.moveTo(x, h / 2 - y); g.lineTo(x, h / 2 + y);
  }
  g.stroke();
}
