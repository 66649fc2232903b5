import Base
import Glibc

/// The thread a challenge responder serves on and the pipe that tells it to stop: `start`
/// runs `serve(wakeFD)` on a new thread (it returns when the pipe becomes readable), `stop`
/// writes to the pipe and joins. The listening sockets and the pipe are closed when `serve`
/// returns. Callers serialise start and stop.
final class ServerThread {
    private var wakeWrite: Int32 = -1
    private var thread: pthread_t?

    var isRunning: Bool { thread != nil }

    /// `purpose`: "the HTTP-01 responder", for error messages.
    func start(listeners: [Int32], purpose: String, serve: @escaping (_ wake: Int32) -> Void) throws {
        var pipeFDs: [Int32] = [-1, -1]
        guard Subprocess.makePipe(&pipeFDs) else {
            listeners.forEach { close($0) }
            throw ChallengeError(.system, "cannot create a pipe for \(purpose): \(String(cString: strerror(errno)))")
        }
        let wake = pipeFDs[0]
        let started = NativeThread.spawn {
            serve(wake)
            listeners.forEach { close($0) }
            close(wake)
        }
        switch started {
        case .success(let handle):
            wakeWrite = pipeFDs[1]
            thread = handle
        case .failure(let failure):
            listeners.forEach { close($0) }
            close(pipeFDs[0]); close(pipeFDs[1])
            throw ChallengeError(.system, "cannot start \(purpose) thread: \(String(cString: strerror(failure.code)))")
        }
    }

    /// Wakes the thread, waits for it to finish.
    func stop() {
        guard let thread else { return }
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
        pthread_join(thread, nil)
        close(wakeWrite)
        wakeWrite = -1
        self.thread = nil
    }
}
