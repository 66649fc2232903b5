import Dispatch
import FoundationEssentials
import Glibc

/// What ends the daemon's sleep: its timer, SIGHUP (reload), SIGTERM or SIGINT (stop).
public enum WakeUp: Sendable, Equatable {
    case timer
    case reload
    case stop(signal: Int32)
    /// The fleet store announced a new version (NOTIFY; the payload names the lineage).
    case storeChanged(String)
}

/// Signals turned into events the daemon's loop awaits, with a timer raced against them.
/// SIGTERM and SIGINT also arm a watchdog: if the loop is busy (a renewal in flight) and has
/// not ended within `stopGrace`, the process exits anyway. That is safe because every write
/// acme makes survives `kill -9` at any moment; it is what makes "stops within a second" hold.
public final class WakeUps: @unchecked Sendable {
    private enum Event: Sendable {
        case wake(WakeUp)
        case timer(Int)
    }

    private let continuation: AsyncStream<Event>.Continuation
    private var iterator: AsyncStream<Event>.Iterator
    private var sources: [any DispatchSourceSignal] = []
    private var timer: Task<Void, Never>?
    private var generation = 0
    public var stopGrace: Duration = .milliseconds(900)
    /// Called on SIGTERM/SIGINT from the signal queue (a last log line), before the watchdog is armed.
    public var onStop: @Sendable (Int32) -> Void = { _ in }

    /// `signals`: take over SIGHUP, SIGTERM and SIGINT (the daemon); false in tests that post events.
    public init(signals: Bool = true) {
        let (stream, continuation) = AsyncStream<Event>.makeStream()
        self.continuation = continuation
        iterator = stream.makeAsyncIterator()
        guard signals else { return }
        let queue = DispatchQueue(label: "acme.signals")
        for (number, event) in [(SIGHUP, WakeUp.reload), (SIGTERM, .stop(signal: SIGTERM)), (SIGINT, .stop(signal: SIGINT))] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { [weak self] in self?.received(event) }
            source.resume()
            sources.append(source)
        }
    }

    private func received(_ event: WakeUp) {
        guard case .stop(let number) = event else { continuation.yield(.wake(event)); return }
        onStop(number)
        continuation.yield(.wake(event))
        let milliseconds = Int(stopGrace.components.seconds * 1000 + stopGrace.components.attoseconds / 1_000_000_000_000_000)
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(milliseconds)) { _exit(0) }
    }

    /// Posts an event as a signal would (tests).
    public func post(_ event: WakeUp) { continuation.yield(.wake(event)) }

    /// The next signal, or `.timer` at `date`, whichever comes first. Only the daemon's loop calls it.
    public func next(until date: Date) async -> WakeUp {
        generation += 1
        let mine = generation
        timer?.cancel()
        let seconds = max(0, date.timeIntervalSinceNow)
        let continuation = self.continuation
        timer = Task {
            do {
                try await Task.sleep(for: .seconds(seconds))
                continuation.yield(.timer(mine))
            } catch {}  // cancelled: a newer timer or a signal took over
        }
        while let event = await iterator.next() {
            switch event {
            case .timer(let id): if id == mine { return .timer }  // else a stale timer: keep waiting
            case .wake(let wake):
                timer?.cancel()
                return wake
            }
        }
        return .stop(signal: 0)
    }
}
