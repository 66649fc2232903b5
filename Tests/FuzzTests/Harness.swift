import Base
import Foundation
import Glibc
import Synchronization
import Testing

// The fuzzing harness: configuration from the environment, a deterministic PRNG, the loop that
// runs one parser over thousands of generated inputs (timing each), the crash and hang reporters
// that name the case and save its input, and the memory probe. See Docs/FUZZING.md.

// MARK: - Configuration

/// What the environment asks for. Every variable is optional; the defaults are the CI run.
struct FuzzConfig: Sendable {
    /// `FUZZ_SEED`: the base seed (decimal or 0x-hex). Each parser derives its own from it.
    var seed: UInt64 = 0x00AC_3E00_F022_5EED
    /// `FUZZ_ITERATIONS`: cases per parser, replacing every parser's default count.
    var iterations: Int?
    /// `FUZZ_SCALE`: multiplies every parser's default count (ignored with FUZZ_ITERATIONS).
    var scale: Double = 1
    /// `FUZZ_SECONDS`: keep generating cases for at least this long per parser (a campaign).
    var seconds: Double?
    /// `FUZZ_CASE`: run only this case number (a reproduction), with FUZZ_SEED.
    var onlyCase: Int?
    /// `FUZZ_INPUT`: run only the input in this file (one saved by a failure).
    var inputFile: String?
    /// `FUZZ_MAX_SECONDS`: one input taking longer than this fails the parser (default 2).
    var maxSeconds: Double = 2
    /// `FUZZ_HANG_SECONDS`: one input still running after this long is a hang: the process
    /// prints the case, saves the input and exits (default 30).
    var hangSeconds: Double = 30
    /// `FUZZ_MAX_MEMORY_MB`: peak resident memory one large input may add (default 1024).
    var maxMemoryMB: Int = 1024
    /// `FUZZ_ARTIFACTS`: where failing inputs are written (default $TMPDIR/acme-fuzz).
    var artifacts: String
    /// `FUZZ_CORPUS_DIR`: keep the generated keys and certificates here and reuse them, so
    /// that a case number reproduces byte for byte in a later run.
    var corpusDir: String?
    /// `FUZZ_IN_PROCESS=1`: run the parsers in the test process instead of one child process
    /// per parser (for a debugger; a crash then stops the whole run).
    var inProcess = false
    /// `FUZZ_VERBOSE=1`: print each failing case's input in full, not only its first 256 bytes.
    var verbose = false
    /// `FUZZ_LARGE=0`: skip the large inputs.
    var large = true
    /// `FUZZ_JOBS`: parsers fuzzed at the same time, each in its own process (default: the cores).
    var jobs = ProcessInfo.processInfo.activeProcessorCount

    static let current = FuzzConfig(environment: ProcessInfo.processInfo.environment)

    init(environment: [String: String]) {
        func number(_ name: String) -> UInt64? {
            guard let text = environment[name]?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return nil }
            if text.lowercased().hasPrefix("0x") { return UInt64(text.dropFirst(2), radix: 16) }
            return UInt64(text)
        }
        if let seed = number("FUZZ_SEED") { self.seed = seed }
        iterations = number("FUZZ_ITERATIONS").map { Int(clamping: $0) }
        if let text = environment["FUZZ_SCALE"], let scale = Double(text), scale > 0 { self.scale = scale }
        if let text = environment["FUZZ_SECONDS"], let seconds = Double(text), seconds > 0 { self.seconds = seconds }
        onlyCase = number("FUZZ_CASE").map { Int(clamping: $0) }
        inputFile = environment["FUZZ_INPUT"].flatMap { $0.isEmpty ? nil : $0 }
        if let text = environment["FUZZ_MAX_SECONDS"], let value = Double(text), value > 0 { maxSeconds = value }
        if let text = environment["FUZZ_HANG_SECONDS"], let value = Double(text), value > 0 { hangSeconds = value }
        if let value = number("FUZZ_MAX_MEMORY_MB") { maxMemoryMB = Int(clamping: value) }
        let tmp = environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        artifacts = environment["FUZZ_ARTIFACTS"].flatMap { $0.isEmpty ? nil : $0 } ?? tmp + "/acme-fuzz"
        corpusDir = environment["FUZZ_CORPUS_DIR"].flatMap { $0.isEmpty ? nil : $0 }
        inProcess = environment["FUZZ_IN_PROCESS"] == "1"
        verbose = environment["FUZZ_VERBOSE"] == "1"
        large = environment["FUZZ_LARGE"] != "0"
        if let value = number("FUZZ_JOBS"), value > 0 { jobs = Int(clamping: value) }
    }
}

// MARK: - PRNG

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and the same sequence on every machine.
/// Never SystemRandomNumberGenerator: a failure must come back from its seed.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Self.mix(state)
    }

    static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// 0..<bound (bound > 0). Lemire's multiply-shift; the tiny bias does not matter here.
    mutating func below(_ bound: Int) -> Int {
        precondition(bound > 0)
        return Int(truncatingIfNeeded: UInt64(bound).multipliedFullWidth(by: next()).high)
    }

    mutating func chance(_ percent: Int) -> Bool { below(100) < percent }

    mutating func byte() -> UInt8 { UInt8(truncatingIfNeeded: next()) }

    mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in byte() } }

    mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }

    /// Small numbers more often than large ones: 1, 2, 4, ... up to `max`.
    mutating func skewed(_ max: Int) -> Int {
        let bits = below(Int.bitWidth - max.leadingZeroBitCount + 1)
        return Swift.max(1, Swift.min(max, below(1 << bits) + 1))
    }

    /// The seed of one parser: FUZZ_SEED mixed with the parser's name (FNV-1a, not Hasher,
    /// which changes from process to process).
    static func parserSeed(base: UInt64, name: String) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in name.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        return mix(base ^ hash)
    }

    /// The seed of case `index` of a parser: every case stands alone, so one case number
    /// reproduces one input without running the cases before it.
    static func caseSeed(parser: UInt64, index: Int) -> UInt64 {
        mix(parser &+ UInt64(truncatingIfNeeded: index) &* 0xD1B5_4A32_D192_ED03)
    }
}

// MARK: - Targets

/// One parser under fuzz: how to make an input from a seeded generator, how to feed it, and
/// which errors count as "refused cleanly".
struct FuzzTarget: Sendable {
    var name: String
    /// Cases in the default (CI) run.
    var iterations: Int
    /// An input from a case's generator. Every input is bytes so that it can be saved and replayed.
    var generate: @Sendable (inout SplitMix64) -> [UInt8]
    /// Feeds one input to the parser. Returns normally or throws; both are fine as long as
    /// the error is one of `allowed`.
    var execute: @Sendable ([UInt8]) throws -> Void
    /// Whether a thrown error is one of the project's errors for this parser.
    var allowed: @Sendable (any Error) -> Bool
    /// A few large inputs (MBs) for the memory check; each is generated once.
    var large: [(label: String, make: @Sendable () -> [UInt8])] = []
    /// One input may take this long before it counts as slow (nil: FUZZ_MAX_SECONDS).
    var maxSeconds: Double?
    /// Large inputs may take this long (nil: 5 × the per-input limit).
    var maxSecondsLarge: Double?
    /// Runs before the first case (e.g. starts a loopback server); targets keep such state in
    /// static objects of their own.
    var setUp: (@Sendable () throws -> Void)?
    /// Runs every `checkEvery` cases and at the end (e.g. "the responder still answers").
    var healthCheck: (@Sendable () -> String?)?
    var checkEvery = 100
    var tearDown: (@Sendable () -> Void)?
}

/// What a run found, printed as one line per parser.
struct FuzzStats {
    var cases = 0
    var returned = 0
    var threw = 0
    var slowest = 0.0
    var slowestCase = -1
    var elapsed = 0.0
    var largeSummary: [String] = []
    var rssGrowthMB = 0.0
    var failures = 0
    var generating = 0.0
    var parsing = 0.0
}

enum Fuzz {
    static var config: FuzzConfig { FuzzConfig.current }

    /// Runs `target`: the random cases, then the large inputs. Failures are recorded as issues
    /// (in the child process, from where Swift Testing forwards them) naming seed and case.
    static func run(_ target: FuzzTarget) {
        let config = config
        Log.open(target: target.name, seed: config.seed)
        CrashReporter.install(artifacts: config.artifacts)
        let restoreThrowHook = ThrowHook.disable()
        defer { restoreThrowHook() }
        // As the acme command does first: a peer that hangs up mid-write (OpenSSL writes with
        // write(2)) is EPIPE, not SIGPIPE.
        LocalSystem.ignoreBrokenPipes()
        Watchdog.start(hangSeconds: config.hangSeconds)
        let parserSeed = SplitMix64.parserSeed(base: config.seed, name: target.name)
        var stats = FuzzStats()
        do {
            try target.setUp?()
        } catch {
            Issue.record("fuzz \(target.name): set-up failed: \(error)")
            return
        }
        defer { target.tearDown?() }

        let limit = target.maxSeconds ?? config.maxSeconds
        let started = Date()
        let rssBefore = Memory.residentMB()

        @discardableResult
        func one(_ input: [UInt8], index: Int, limit: Double, label: String) -> Double {
            let outcome = CrashReporter.running(target: target.name, seed: config.seed, index: index, label: label, input: input) {
                () -> (Double, (any Error)?) in
                let start = DispatchTime.now().uptimeNanoseconds
                var thrown: (any Error)?
                do { try target.execute(input) } catch { thrown = error }
                return (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9, thrown)
            }
            let (seconds, thrown) = outcome
            stats.cases += 1
            if let thrown {
                stats.threw += 1
                if !target.allowed(thrown) {
                    stats.failures += 1
                    let file = Artifacts.save(input, target: target.name, seed: config.seed, index: index, kind: "error")
                    Issue.record("""
                        fuzz \(target.name): \(label) threw \(type(of: thrown)), not one of the project's errors: \(String(describing: thrown).prefix(300))
                        \(reproduction(target: target.name, index: index, file: file, input: input))
                        """)
                }
            } else {
                stats.returned += 1
            }
            if index >= 0, seconds > stats.slowest { stats.slowest = seconds; stats.slowestCase = index }
            if seconds > limit {
                stats.failures += 1
                let file = Artifacts.save(input, target: target.name, seed: config.seed, index: index, kind: "slow")
                Issue.record("""
                    fuzz \(target.name): \(label) took \(String(format: "%.2f", seconds)) s (limit \(limit) s) for \(input.count) bytes
                    \(reproduction(target: target.name, index: index, file: file, input: input))
                    """)
            }
            return seconds
        }

        func health(after index: Int) {
            guard let check = target.healthCheck else { return }
            if let problem = check() {
                stats.failures += 1
                Issue.record("fuzz \(target.name): after case \(index) (seed \(hex(config.seed))): \(problem)")
            }
        }

        if let file = config.inputFile {
            // Replay one saved input.
            guard let data = FileManager.default.contents(atPath: file) else {
                Issue.record("fuzz \(target.name): cannot read FUZZ_INPUT \(file)")
                return
            }
            one(Array(data), index: -1, limit: limit, label: "input \(file)")
            health(after: -1)
        } else if let only = config.onlyCase {
            var rng = SplitMix64(seed: SplitMix64.caseSeed(parser: parserSeed, index: only))
            one(target.generate(&rng), index: only, limit: limit, label: "case \(only)")
            health(after: only)
        } else {
            let count = config.iterations ?? max(1, Int((Double(target.iterations) * config.scale).rounded()))
            var index = 0
            while index < count || (config.seconds.map { Date().timeIntervalSince(started) < $0 } ?? false) {
                var rng = SplitMix64(seed: SplitMix64.caseSeed(parser: parserSeed, index: index))
                let before = DispatchTime.now().uptimeNanoseconds
                let input = target.generate(&rng)
                stats.generating += Double(DispatchTime.now().uptimeNanoseconds - before) / 1e9
                stats.parsing += one(input, index: index, limit: limit, label: "case \(index)")
                index += 1
                if index % target.checkEvery == 0 { health(after: index - 1) }
                // Stop early once a parser has clearly failed: the first few issues say it all.
                if stats.failures >= 5 { break }
            }
            health(after: index - 1)
        }
        stats.rssGrowthMB = Memory.residentMB() - rssBefore
        let randomSeconds = Date().timeIntervalSince(started)

        // Large inputs: each must return within the large limit and add at most
        // FUZZ_MAX_MEMORY_MB to the peak resident memory.
        if config.inputFile == nil && config.onlyCase == nil && config.large {
            let largeLimit = target.maxSecondsLarge ?? 5 * limit
            for (offset, large) in target.large.enumerated() {
                let input = large.make()
                let baseline = Memory.residentMB()
                Memory.resetPeak()
                let seconds = one(input, index: -2 - offset, limit: largeLimit, label: "large input \"\(large.label)\"")
                let growth = Memory.peakMB() - baseline
                stats.largeSummary.append("\(large.label) \(input.count >> 10) KiB: \(String(format: "%.2f", seconds)) s, +\(Int(growth.rounded())) MiB")
                if growth > Double(config.maxMemoryMB) {
                    stats.failures += 1
                    let file = Artifacts.save(input, target: target.name, seed: config.seed, index: -2 - offset, kind: "memory")
                    Issue.record("fuzz \(target.name): large input \"\(large.label)\" (\(input.count) bytes) raised peak memory by \(Int(growth)) MiB (limit \(config.maxMemoryMB) MiB); saved to \(file ?? "(not saved)")")
                }
            }
            if !target.large.isEmpty { health(after: -1) }
        }
        stats.elapsed = Date().timeIntervalSince(started)

        var line = "fuzz \(target.name): \(stats.cases) inputs (seed \(hex(config.seed))) in \(String(format: "%.2f", stats.elapsed)) s"
        if !stats.largeSummary.isEmpty { line += " (random \(String(format: "%.2f", randomSeconds)) s)" }
        line += ", \(stats.returned) returned, \(stats.threw) threw"
        line += " (generating \(String(format: "%.2f", stats.generating)) s, parsing \(String(format: "%.2f", stats.parsing)) s)"
        line += ", slowest \(String(format: "%.1f", stats.slowest * 1000)) ms (case \(stats.slowestCase))"
        line += ", resident +\(Int(stats.rssGrowthMB.rounded())) MiB"
        if !stats.largeSummary.isEmpty { line += "; large: " + stats.largeSummary.joined(separator: "; ") }
        Log.line(line)
    }

    static func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

    /// How to run one case again.
    static func reproduction(target: String, index: Int, file: String?, input: [UInt8]) -> String {
        var text = ""
        if index >= 0 {
            text += "reproduce: FUZZ_SEED=\(hex(config.seed)) FUZZ_CASE=\(index) FUZZ_IN_PROCESS=1 swift test --filter FuzzTests/\(target)"
        }
        if let file {
            text += (text.isEmpty ? "" : "\n") + "input saved: FUZZ_INPUT=\(file) FUZZ_IN_PROCESS=1 swift test --filter FuzzTests/\(target)"
        }
        let shown = config.verbose ? input : Array(input.prefix(256))
        text += "\ninput (\(input.count) bytes\(shown.count < input.count ? ", first \(shown.count)" : "")): \(Log.escaped(shown))"
        return text
    }
}

// MARK: - Output and artifacts

enum Log {
    /// The report file of the target being run: the parent test prints it after the child
    /// process ended, however it ended (the crash handler writes to it too).
    nonisolated(unsafe) static var fd: Int32 = -1

    static func path(target: String, seed: UInt64) -> String {
        "\(FuzzConfig.current.artifacts)/\(target)-\(Fuzz.hex(seed)).log"
    }

    static func open(target: String, seed: UInt64) {
        try? FileManager.default.createDirectory(atPath: FuzzConfig.current.artifacts, withIntermediateDirectories: true)
        if fd >= 0 { close(fd) }
        fd = Glibc.open(path(target: target, seed: seed), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o644)
    }

    /// One line on stderr and in the report file.
    static func line(_ text: String) {
        let bytes = Array((text + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        if fd >= 0 { _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } }
    }

    /// Printable ASCII as is, everything else as \xNN.
    static func escaped(_ bytes: [UInt8]) -> String {
        var out = ""
        for byte in bytes {
            switch byte {
            case 0x20...0x7E where byte != UInt8(ascii: "\\"): out.unicodeScalars.append(UnicodeScalar(byte))
            case UInt8(ascii: "\n"): out += "\\n"
            case UInt8(ascii: "\r"): out += "\\r"
            case UInt8(ascii: "\\"): out += "\\\\"
            default: out += String(format: "\\x%02x", byte)
            }
        }
        return out
    }
}

enum Artifacts {
    /// Writes a failing input to `<artifacts>/<target>-<seed>-<case>-<kind>.bin`.
    static func save(_ input: [UInt8], target: String, seed: UInt64, index: Int, kind: String) -> String? {
        let directory = FuzzConfig.current.artifacts
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = "\(directory)/\(target)-\(Fuzz.hex(seed))-\(index < 0 ? "n\(-index)" : String(index))-\(kind).bin"
        return FileManager.default.createFile(atPath: path, contents: Data(input)) ? path : nil
    }
}

// MARK: - Crashes

/// A signal handler that names the case being run when the process dies (a Swift trap is
/// SIGILL/SIGTRAP, a stack overflow SIGSEGV) and saves its input, then hands the signal to
/// whatever handler was there before (Swift's backtracer), which prints the stack.
/// Everything it touches is prepared before each case; it only calls write/open/close.
enum CrashReporter {
    nonisolated(unsafe) static var message = UnsafeMutablePointer<CChar>.allocate(capacity: 1024)
    nonisolated(unsafe) static var path = UnsafeMutablePointer<CChar>.allocate(capacity: 1024)
    nonisolated(unsafe) static var input: UnsafeRawBufferPointer?
    nonisolated(unsafe) static var previous = UnsafeMutablePointer<sigaction>.allocate(capacity: 65)
    nonisolated(unsafe) static var installed = false
    static let signals = [SIGILL, SIGTRAP, SIGSEGV, SIGBUS, SIGFPE, SIGABRT]

    static func install(artifacts: String) {
        guard !installed else { return }
        installed = true
        message[0] = 0
        path[0] = 0
        try? FileManager.default.createDirectory(atPath: artifacts, withIntermediateDirectories: true)
        // An alternate stack, so that a stack overflow can still be reported.
        var stack = stack_t()
        stack.ss_sp = UnsafeMutableRawPointer.allocate(byteCount: 1 << 16, alignment: 16)
        stack.ss_size = 1 << 16
        stack.ss_flags = 0
        sigaltstack(&stack, nil)
        for signal in signals {
            var action = sigaction()
            action.__sigaction_handler.sa_sigaction = { signal, _, _ in
                CrashReporter.report(signal)
            }
            action.sa_flags = SA_SIGINFO | SA_ONSTACK
            sigemptyset(&action.sa_mask)
            sigaction(signal, &action, previous + Int(signal))
        }
    }

    /// In the signal handler: async-signal-safe calls only (the prefix is static text).
    static func report(_ signal: Int32, prefix: StaticString = "\nFUZZ CRASH (a fatal signal) in ") {
        let text = message
        func emit(_ fd: Int32) {
            guard fd >= 0 else { return }
            _ = write(fd, prefix.utf8Start, prefix.utf8CodeUnitCount)
            _ = write(fd, text, strlen(text))
        }
        emit(2)
        emit(Log.fd)
        if path[0] != 0, let input {
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            if fd >= 0 {
                _ = write(fd, input.baseAddress, input.count)
                close(fd)
            }
        }
        // The previous handler (or the default action) runs when the faulting instruction
        // runs again; abort() and raise() deliver the signal again themselves.
        guard signal > 0 else { return }  // the watchdog
        sigaction(signal, previous + Int(signal), nil)
        if signal == SIGABRT { raise(signal) }
    }

    /// Runs `body` with the crash message and input path set for this case.
    static func running<T>(target: String, seed: UInt64, index: Int, label: String, input: [UInt8], _ body: () -> T) -> T {
        let directory = FuzzConfig.current.artifacts
        let file = "\(directory)/\(target)-\(Fuzz.hex(seed))-\(index < 0 ? "n\(-index)" : String(index))-crash.bin"
        var text = "\(target): \(label), seed \(Fuzz.hex(seed)), \(input.count) bytes; input saved to \(file)\n"
        if index >= 0 {
            text += "reproduce: FUZZ_SEED=\(Fuzz.hex(seed)) FUZZ_CASE=\(index) FUZZ_IN_PROCESS=1 swift test --filter FuzzTests/\(target)\n"
        }
        copy(text, into: message)
        copy(file, into: path)
        Watchdog.begin()
        defer {
            Watchdog.end()
            message[0] = 0
            path[0] = 0
            CrashReporter.input = nil
        }
        return input.withUnsafeBytes { raw in
            CrashReporter.input = raw
            return body()
        }
    }

    private static func copy(_ text: String, into buffer: UnsafeMutablePointer<CChar>) {
        let bytes = Array(text.utf8.prefix(1023))
        bytes.withUnsafeBufferPointer { source in
            buffer.withMemoryRebound(to: UInt8.self, capacity: 1024) { target in
                target.update(from: source.baseAddress!, count: bytes.count)
                target[bytes.count] = 0
            }
        }
    }
}

// MARK: - Hangs

/// A thread that watches the case in progress: one that runs longer than FUZZ_HANG_SECONDS is a
/// hang (it may never return, so the loop cannot time it): the case is printed, its input saved,
/// and the process exits, which fails the parser's test instead of stalling CI.
enum Watchdog {
    static let started = Atomic<UInt64>(0)
    nonisolated(unsafe) static var running = false

    static func begin() { started.store(DispatchTime.now().uptimeNanoseconds, ordering: .releasing) }
    static func end() { started.store(0, ordering: .releasing) }

    static func start(hangSeconds: Double) {
        guard !running else { return }
        running = true
        let limit = UInt64(hangSeconds * 1e9)
        let thread = Thread {
            while true {
                usleep(200_000)
                let since = started.load(ordering: .acquiring)
                guard since != 0, DispatchTime.now().uptimeNanoseconds - since > limit else { continue }
                CrashReporter.report(0, prefix: "\nFUZZ HANG (an input ran longer than FUZZ_HANG_SECONDS) in ")
                _exit(86)
            }
        }
        thread.start()
    }
}

// MARK: - Thrown errors

/// Swift Testing records a backtrace of every error thrown while a test runs (through the
/// runtime's swift_willThrow hook). Parsers refusing fuzzed input throw thousands of times, and
/// each backtrace costs more than the parse: the hook is switched off while a target runs (the
/// same as SWT_SWIFT_ERROR_BACKTRACING_ENABLED=0, which cannot reach the child processes).
enum ThrowHook {
    static func disable() -> () -> Void {
        var saved: [(UnsafeMutablePointer<UnsafeRawPointer?>, UnsafeRawPointer?)] = []
        for name in ["_swift_willThrow", "_swift_willThrowTypedImpl"] {
            guard let address = dlsym(nil, name) else { continue }
            let slot = address.assumingMemoryBound(to: UnsafeRawPointer?.self)
            saved.append((slot, slot.pointee))
            slot.pointee = nil
        }
        return { for (slot, value) in saved { slot.pointee = value } }
    }
}

// MARK: - Memory

enum Memory {
    /// VmRSS in MiB.
    static func residentMB() -> Double { field("VmRSS:") }
    /// VmHWM (peak resident since the last reset) in MiB.
    static func peakMB() -> Double { field("VmHWM:") }

    /// Resets VmHWM to the current resident size (Linux ≥ 4.0: `5` to /proc/self/clear_refs).
    static func resetPeak() {
        let fd = open("/proc/self/clear_refs", O_WRONLY)
        guard fd >= 0 else { return }
        _ = write(fd, "5", 1)
        close(fd)
    }

    private static func field(_ name: String) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix(name) {
            let digits = line.dropFirst(name.count).split(whereSeparator: { $0 == " " || $0 == "\t" }).first.flatMap { Double($0) } ?? 0
            return digits / 1024  // kB
        }
        return 0
    }
}
