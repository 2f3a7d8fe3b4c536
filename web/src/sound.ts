/// An optional alarm for new urgent alerts: a short WebAudio beep. Off until the user switches it
/// on (browsers only allow audio after a user gesture anyway).

let ctx: AudioContext | null = null;

/** Creates (or resumes) the audio context; call from the click that switches sound on. */
export function enableSound(): boolean {
  try {
    ctx ??= new AudioContext();
    void ctx.resume();
    return true;
  } catch {
    return false;
  }
}

/** Two short tones; a no-op when sound was never enabled. */
export function beep(): void {
  if (!ctx) return;
  const now = ctx.currentTime;
  for (const [i, freq] of [880, 660].entries()) {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = 'square';
    osc.frequency.value = freq;
    const t = now + i * 0.22;
    gain.gain.setValueAtTime(0.0001, t);
    gain.gain.exponentialRampToValueAtTime(0.2, t + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.18);
    osc.connect(gain).connect(ctx.destination);
    osc.start(t);
    osc.stop(t + 0.2);
  }
}
