// AudioWorklet: hands every block of microphone samples (Float32, the context's rate,
// 16 kHz in the studio) to the page, which keeps, meters or streams them.
class Recorder extends AudioWorkletProcessor {
  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (channel) this.port.postMessage(channel.slice(0));
    return true;
  }
}
registerProcessor("recorder", Recorder);
