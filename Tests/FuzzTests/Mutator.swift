import Foundation

/// Byte-level mutations of seed inputs, as libFuzzer and AFL do them, plus a few that know
/// about text (lines, numbers, tokens) and JSON (nesting). All choices come from the case's
/// SplitMix64, so a case number always makes the same input.
struct Mutator {
    /// Valid inputs to start from.
    var seeds: [[UInt8]]
    /// Words worth inserting whole: markers, keys, quotes, brackets.
    var tokens: [[UInt8]] = []
    /// Inputs are cut to this many bytes after mutation (long-line mutations may reach it).
    var maxLength = 64 * 1024
    /// Also try nesting mutations (deep `[[[[...`, `{"a":{"a":...`).
    var json = false

    init(seeds: [[UInt8]], tokens: [String] = [], maxLength: Int = 64 * 1024, json: Bool = false) {
        self.seeds = seeds
        self.tokens = tokens.map { Array($0.utf8) } + Self.commonTokens
        self.maxLength = maxLength
        self.json = json
    }

    static let commonTokens: [[UInt8]] = [
        [0], [0x0D], [0x0A], [0x0D, 0x0A], [0x09], [0x7F], [0x1B, 0x5B, 0x32, 0x4A], [0x08],
        Array("\u{202E}".utf8), Array("\u{FEFF}".utf8), Array("\u{0301}".utf8), Array("é".utf8), Array("😀".utf8),
        Array(" ".utf8), Array("=".utf8), Array(":".utf8), Array(",".utf8), Array("#".utf8), Array("\"".utf8),
        Array("'".utf8), Array("\\".utf8), Array("/".utf8), Array(".".utf8), Array("-".utf8), Array("*".utf8),
        Array("%s%n%x".utf8), Array("../".utf8),
    ]

    /// Invalid UTF-8: lone continuation, overlong, truncated sequences, surrogates, 0xFF.
    static let invalidUTF8: [[UInt8]] = [
        [0x80], [0xBF], [0xC0, 0x80], [0xC1, 0xBF], [0xE0, 0x80, 0x80], [0xE2, 0x82], [0xED, 0xA0, 0x80],
        [0xF4, 0x90, 0x80, 0x80], [0xF8, 0x88, 0x80, 0x80, 0x80], [0xFE], [0xFF], [0xF0, 0x9F, 0x98],
    ]

    static let interestingNumbers: [String] = [
        "0", "-1", "1", "-0", "2147483647", "2147483648", "-2147483649", "4294967296", "9223372036854775807",
        "9223372036854775808", "-9223372036854775808", "-9223372036854775809", "99999999999999999999999999",
        "1e308", "1e309", "-1e309", "1e-400", "0.0000001", "NaN", "Infinity", "0x10", "1_000", "065535", "65536",
        "3.5", "+5", " 7", "٣", "１",
    ]

    /// A seed mutated 1 to 8 times (sometimes more), or once in a while pure random bytes.
    func input(_ rng: inout SplitMix64) -> [UInt8] {
        if rng.chance(3) { return rng.bytes(rng.skewed(4096)) }
        var data = seeds.isEmpty ? [] : rng.pick(seeds)
        let rounds = rng.chance(10) ? rng.skewed(64) : rng.skewed(8)
        for _ in 0..<rounds { mutate(&data, &rng) }
        if data.count > maxLength { data.removeSubrange(maxLength...) }
        return data
    }

    func mutate(_ data: inout [UInt8], _ rng: inout SplitMix64) {
        let count = data.count
        func position() -> Int { rng.below(count + 1) }
        func range() -> Range<Int> {
            guard count > 0 else { return 0..<0 }
            let start = rng.below(count)
            return start..<min(count, start + rng.skewed(max(1, count - start)))
        }
        switch rng.below(json ? 21 : 19) {
        case 0 where count > 0:  // flip one bit
            data[rng.below(count)] ^= 1 << UInt8(rng.below(8))
        case 1 where count > 0:  // set one byte
            data[rng.below(count)] = rng.byte()
        case 2 where count > 0:  // nudge one byte
            let i = rng.below(count)
            data[i] = rng.chance(50) ? data[i] &+ 1 : data[i] &- 1
        case 3:  // insert random bytes
            data.insert(contentsOf: rng.bytes(rng.skewed(32)), at: position())
        case 4 where count > 0:  // delete a range
            data.removeSubrange(range())
        case 5:  // truncate
            data.removeSubrange(position()...)
        case 6 where count > 0:  // duplicate a slice, possibly many times
            let slice = Array(data[range()])
            let times = rng.chance(10) ? min(rng.skewed(256), maxLength / max(1, slice.count)) : 1
            data.insert(contentsOf: repeated(slice, max(1, times)), at: position())
        case 7 where seeds.count > 0:  // splice with another seed
            let other = rng.pick(seeds)
            let head = data.prefix(position())
            let tail = other.suffix(from: rng.below(other.count + 1))
            data = Array(head) + Array(tail)
        case 8:  // insert a token
            data.insert(contentsOf: rng.pick(tokens), at: position())
        case 9 where count > 0:  // replace a range with a token
            data.replaceSubrange(range(), with: rng.pick(tokens))
        case 10:  // invalid UTF-8
            data.insert(contentsOf: rng.pick(Self.invalidUTF8), at: position())
        case 11:  // control characters
            data.insert(contentsOf: (0..<rng.skewed(8)).map { _ in UInt8(rng.below(32)) }, at: position())
        case 12:  // a very long line
            let fill = rng.chance(50) ? rng.pick(Array("Aa0=,.- \t[{\"\\".utf8)) : rng.byte()
            data.insert(contentsOf: [UInt8](repeating: fill, count: rng.skewed(maxLength)), at: position())
        case 13:  // swap, duplicate or drop a line
            mutateLines(&data, &rng)
        case 14:  // replace a number with an interesting one
            replaceNumber(&data, &rng)
        case 15 where count > 1:  // swap two ranges
            let a = range(), b = range()
            if a.upperBound <= b.lowerBound {
                let first = Array(data[a]), second = Array(data[b])
                data.replaceSubrange(b, with: first)
                data.replaceSubrange(a, with: second)
            }
        case 16:  // the whole input repeated
            if count > 0, count < maxLength / 2 { data = repeated(data, rng.skewed(maxLength / count)) }
        case 17 where count > 0:  // case change of a range (keys, markers)
            for i in range() where (65...90).contains(data[i]) || (97...122).contains(data[i]) { data[i] ^= 0x20 }
        case 18 where count > 0:  // cut at a line boundary (a truncated file)
            if let newline = data[..<rng.below(count)].lastIndex(of: 10) { data.removeSubrange((newline + 1)...) }
        case 19:  // deep nesting
            let depth = rng.skewed(maxLength / 2)
            let open = rng.pick([Array("[".utf8), Array("{\"a\":".utf8), Array("[{\"b\":".utf8)])
            let close = open.first == UInt8(ascii: "[") && open.count == 1 ? Array("]".utf8) : (open.count > 5 ? Array("}]".utf8) : Array("}".utf8))
            var nested = repeated(open, depth)
            if rng.chance(70) { nested += [UInt8(ascii: "1")] + repeated(close, depth) }
            data.insert(contentsOf: nested, at: position())
        case 20:  // a JSON string with hostile escapes
            let escapes = ["\\u0000", "\\ud800", "\\udfff", "\\ud83d\\ude00", "\\uZZZZ", "\\", "\\x41", "\\u00", "\\/", "\\b\\f"]
            data.insert(contentsOf: Array(rng.pick(escapes).utf8), at: position())
        default:
            data.insert(rng.byte(), at: position())
        }
    }

    private func mutateLines(_ data: inout [UInt8], _ rng: inout SplitMix64) {
        var lines = data.split(separator: 10, omittingEmptySubsequences: false).map(Array.init)
        guard !lines.isEmpty else { return }
        let a = rng.below(lines.count), b = rng.below(lines.count)
        switch rng.below(4) {
        case 0: lines.swapAt(a, b)
        case 1: lines.insert(lines[a], at: b)
        case 2: lines.remove(at: a)
        default: lines.insert(rng.pick(tokens), at: b)
        }
        var joined: [UInt8] = []
        joined.reserveCapacity(data.count + 64)
        for (index, line) in lines.enumerated() {
            if index > 0 { joined.append(10) }
            joined.append(contentsOf: line)
        }
        data = joined
    }

    private func replaceNumber(_ data: inout [UInt8], _ rng: inout SplitMix64) {
        // The first digit within 512 bytes of a random place, or an insertion there.
        let from = rng.below(data.count + 1)
        guard let digit = data[from..<min(data.count, from + 512)].firstIndex(where: { (48...57).contains($0) }) else {
            data.insert(contentsOf: Array(rng.pick(Self.interestingNumbers).utf8), at: from)
            return
        }
        var start = digit, end = start
        while start > 0, (48...57).contains(data[start - 1]) { start -= 1 }
        while end < data.count, (48...57).contains(data[end]) { end += 1 }
        data.replaceSubrange(start..<end, with: Array(rng.pick(Self.interestingNumbers).utf8))
    }

    /// Random text from an alphabet of characters that matter to name and URL parsers.
    static func randomText(_ rng: inout SplitMix64, alphabet: [String], maxLength: Int = 300) -> String {
        var text = ""
        for _ in 0..<rng.skewed(maxLength) { text += rng.pick(alphabet) }
        return text
    }
}

/// `bytes` `count` times, without FlattenSequence (which is very slow in a debug build).
func repeated(_ bytes: [UInt8], _ count: Int) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count * max(0, count))
    for _ in 0..<max(0, count) { out.append(contentsOf: bytes) }
    return out
}

/// Several byte strings in one input (files of an account, replies of a dialog), so that every
/// input is one byte string that can be saved and replayed. A part may be absent (nil).
enum Parts {
    static func encode(_ parts: [[UInt8]?]) -> [UInt8] {
        var out: [UInt8] = []
        for part in parts {
            let length = part.map { UInt32($0.count) } ?? UInt32.max
            out += withUnsafeBytes(of: length.littleEndian, Array.init)
            out += part ?? []
        }
        return out
    }

    /// The parts back; a malformed tail (from a hand-edited file) ends the list.
    static func decode(_ bytes: [UInt8]) -> [[UInt8]?] {
        var parts: [[UInt8]?] = []
        var index = 0
        while index + 4 <= bytes.count {
            let length = bytes[index..<index + 4].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            index += 4
            if length == UInt32.max { parts.append(nil); continue }
            let end = min(bytes.count, index + Int(length))
            parts.append(Array(bytes[index..<end]))
            index = end
        }
        return parts
    }
}

extension Array where Element == UInt8 {
    var text: String { String(decoding: self, as: UTF8.self) }
}

extension String {
    var bytes: [UInt8] { Array(utf8) }
}
