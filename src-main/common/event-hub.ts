/**
 * Listeners of one kind of event: the engine's events to its transports, and a client's to its
 * own listeners. A listener that throws does not keep the event from the others.
 *
 * Pure code: runs anywhere.
 */
export class EventHub<E> {
  private readonly listeners = new Set<(event: E) => void>();
  /** Hears how many listeners there are, after each change. */
  onListenerCount: (count: number) => void = () => undefined;

  /** Adds a listener; the function returned removes it. */
  subscribe(listener: (event: E) => void): () => void {
    const own = (event: E) => listener(event);
    this.listeners.add(own);
    this.onListenerCount(this.listeners.size);
    return () => {
      if (this.listeners.delete(own)) this.onListenerCount(this.listeners.size);
    };
  }

  publish(event: E): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch (error) {
        console.error('bazil: an event listener failed:', error);
      }
    }
  }
}
