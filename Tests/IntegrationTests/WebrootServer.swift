import Foundation

/// A web server for a webroot on 127.0.0.1 (`.ci/webroot-server.py`: a threading server with
/// nginx's listen backlog, so 20 names validated at once are not queued behind dropped SYNs).
final class WebrootServer {
    let root: String
    private let process = Process()

    /// Creates `root` and serves it on `port`; fails loudly when the server does not listen.
    init(root: String, port: Int) throws {
        self.root = root
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".ci/webroot-server.py").path
        process.executableURL = URL(fileURLWithPath: try TestSupport.require("python3"))
        process.arguments = [script, root, String(port)]
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        try TestSupport.waitForPort(port, timeout: 60, process: process, what: "\(script) \(root) \(port)")
    }

    func stop() {
        if process.isRunning { stopProcess(process) }
    }

    deinit { stop() }
}
