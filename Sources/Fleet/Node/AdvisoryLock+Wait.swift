import Base
import FleetStore
import FoundationEssentials
import Glibc

extension AdvisoryLock {
    /// Takes the lock, polling every second while another node holds it (saying once which
    /// session holds it), for at most `wait`.
    func acquire(on opened: FleetStore, waitingAtMost wait: Duration, progress: EventSink) throws {
        let deadline = Date().addingTimeInterval(Double(wait.components.seconds))
        var told = false
        while !(try tryAcquire(on: opened.connection)) {
            if !told {
                let holder = try self.holder(on: opened.connection).map { " (\($0))" } ?? ""
                progress("another node holds the store's lock of the \(name)\(holder); waiting")
            }
            told = true
            guard Date() < deadline else {
                throw FleetError(.busy, "another node has held the store's lock of the \(name) for \(wait.components.seconds) s; try again later")
            }
            BlockingCheck.willWait("another node's advisory lock (sleep)")
            usleep(1_000_000)
        }
    }
}
