import Foundation
import Glibc
import Synchronization

/// Holds up to `count` connections from `source` to `host`:`port`, replacing those the server
/// closed every 50 ms (at most 20 rounds of `count` connects a second), each sending one byte
/// of `drip` per second (nothing when empty). While the port refuses connections it tries one every
/// 2 ms, so that it fills its slots as soon as a responder listens. Stops by itself after
/// `duration` seconds, or at `stop()`.
public final class Flooder: @unchecked Sendable, CustomStringConvertible {
    public let host: String, port: Int, source: String, count: Int, duration: TimeInterval, drip: [UInt8]
    private let stopping = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)
    private let started = Atomic<Bool>(false)
    /// Connections the server's side established so far.
    public let established = Atomic<Int>(0)
    /// Of those, the ones the server closed or reset.
    public let closedByServer = Atomic<Int>(0)
    /// Established connections open now.
    public let open = Atomic<Int>(0)

    public init(host: String, port: Int, source: String, count: Int = 100, duration: TimeInterval = 30, drip: [UInt8] = []) {
        self.host = host; self.port = port; self.source = source; self.count = count; self.duration = duration; self.drip = drip
    }

    public var description: String {
        "flood from \(source) to \(host):\(port): \(established.load(ordering: .relaxed)) connections established, "
            + "\(closedByServer.load(ordering: .relaxed)) of them closed by the server, \(open.load(ordering: .relaxed)) open now"
    }

    public func start() {
        started.store(true, ordering: .relaxed)
        Thread.detachNewThread { [self] in
            run()
            finished.signal()
        }
    }

    /// Stops the flood and waits until its sockets are closed; again: nothing.
    public func stop() {
        guard started.exchange(false, ordering: .relaxed) else { return }
        stopping.store(true, ordering: .relaxed)
        finished.wait()
    }

    private func run() {
        struct Slot { var fd: Int32 = -1; var connected = false; var sent = 0 }
        var slots = [Slot](repeating: Slot(), count: count)
        defer { for slot in slots where slot.fd >= 0 { close(slot.fd) } }
        let start = Date()
        var lastDrip = Date()
        var probing = true
        var lastFill = Date.distantPast
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !stopping.load(ordering: .relaxed) && Date().timeIntervalSince(start) < duration {
            let filling = probing || Date().timeIntervalSince(lastFill) >= 0.05
            if filling && !probing { lastFill = Date() }
            for index in slots.indices where filling && slots[index].fd < 0 {
                guard let fd = try? Loopback.socketFor(host, nonBlocking: true) else { break }
                guard (try? Loopback.bind(fd, source)) != nil else { break }  // bind closed it
                let rc = Loopback.withAddress(host, port: port) { Glibc.connect(fd, $0, $1) }
                if rc != 0 && errno != EINPROGRESS {
                    close(fd)
                    probing = true
                    break
                }
                slots[index] = Slot(fd: fd, connected: rc == 0)
                if rc == 0 { established.add(1, ordering: .relaxed) }
                if probing { break }
            }
            var fds = slots.map { pollfd(fd: $0.fd, events: Int16($0.connected ? POLLIN : POLLOUT), revents: 0) }
            _ = poll(&fds, nfds_t(fds.count), probing ? 2 : 50)
            for (index, entry) in fds.enumerated() where entry.revents != 0 {
                if !slots[index].connected {
                    var error: Int32 = 0
                    var length = socklen_t(MemoryLayout<Int32>.size)
                    getsockopt(entry.fd, SOL_SOCKET, SO_ERROR, &error, &length)
                    if error == ECONNREFUSED || error == ETIMEDOUT || error == EHOSTUNREACH {
                        // Nobody listens (yet).
                        close(entry.fd)
                        slots[index] = Slot()
                        probing = true
                        continue
                    }
                    slots[index].connected = true
                    established.add(1, ordering: .relaxed)
                    probing = false
                    guard error == 0 else {
                        // Established, then reset by the server before we looked.
                        close(entry.fd)
                        slots[index] = Slot()
                        closedByServer.add(1, ordering: .relaxed)
                        continue
                    }
                    if entry.revents & Int16(POLLOUT) == 0 { continue }
                }
                let n = recv(entry.fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
                if n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) || entry.revents & Int16(POLLERR | POLLHUP) != 0 {
                    close(entry.fd)
                    slots[index] = Slot()
                    closedByServer.add(1, ordering: .relaxed)
                }
            }
            if !drip.isEmpty && Date().timeIntervalSince(lastDrip) >= 1 {
                lastDrip = Date()
                for index in slots.indices where slots[index].connected {
                    let byte = drip[slots[index].sent % drip.count]
                    if [byte].withUnsafeBytes({ Glibc.send(slots[index].fd, $0.baseAddress, 1, Int32(MSG_NOSIGNAL)) }) == 1 { slots[index].sent += 1 }
                }
            }
            open.store(slots.filter(\.connected).count, ordering: .relaxed)
        }
    }
}
