import Base
import Foundation

/// What a tool run by `runTool` did.
public struct ToolResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    public var output: String { stdout + stderr }
}

/// Runs `executable` to completion (stdin from `input`, else empty) and returns its status and
/// output. The process is waited for on a thread of its own, so unit tests running on the
/// threads async code shares never block them (Docs/ARCHITECTURE.md, Concurrency).
public func runTool(_ executable: String, _ arguments: [String], input: Data? = nil,
                    environment: [String: String] = [:]) async throws -> ToolResult {
    try await onOwnThread(throwing: {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let out = Pipe(), err = Pipe(), stdin = Pipe()
        (process.standardOutput, process.standardError, process.standardInput) = (out, err, stdin)
        try process.run()
        // Both pipes drained at once, so a tool that writes much to one never blocks on it.
        final class Collected: @unchecked Sendable { var data = Data() }  // written before the join, read after
        let errors = Collected()
        let reader = NativeThread.spawn { errors.data = err.fileHandleForReading.readDataToEndOfFile() }
        if let input { try? stdin.fileHandleForWriting.write(contentsOf: input) }
        try? stdin.fileHandleForWriting.close()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        if case .success(let thread) = reader { pthread_join(thread, nil) } else { errors.data = err.fileHandleForReading.readDataToEndOfFile() }
        return ToolResult(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                          stderr: String(decoding: errors.data, as: UTF8.self))
    })
}

/// A fixture that could not be set up (a tool failed), with what it said.
public struct TestFixtureFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
