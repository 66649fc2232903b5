#if canImport(Glibc)
import Glibc
#endif

/// Where the CLI's words go: progress and errors on stderr, results on stdout.
struct Output: Sendable {
    var quiet: Bool
    var verbose: Bool

    /// One line a step, unless --quiet.
    func step(_ line: String) {
        guard !quiet else { return }
        Output.writeErr(line)
    }

    /// Requests and statuses, only with --verbose.
    func detail(_ line: String) {
        guard verbose else { return }
        Output.writeErr("  " + line)
    }

    func result(_ line: String) {
        guard !quiet else { return }
        print(line)
    }

    static func writeErr(_ line: String) {
        var text = line + "\n"
        text.withUTF8 { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = write(2, buffer.baseAddress! + offset, buffer.count - offset)
                if n <= 0 { break }
                offset += n
            }
        }
    }
}
