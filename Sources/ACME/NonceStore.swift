/// Replay nonces handed out by the server (RFC 8555 §7.2). Every response's
/// `Replay-Nonce` is kept and used for the next request, so `newNonce` is only
/// asked when none is in hand.
struct NonceStore: Sendable {
    private var nonces: [String] = []

    mutating func take() -> String? { nonces.popLast() }

    mutating func keep(_ nonce: String?) {
        // RFC 8555 §6.5.1: base64url, no padding. Ignore anything else.
        guard let nonce, !nonce.isEmpty,
              nonce.utf8.allSatisfy({ Self.isBase64URL($0) }) else { return }
        nonces.append(nonce)
        if nonces.count > 8 { nonces.removeFirst() }
    }

    private static func isBase64URL(_ c: UInt8) -> Bool {
        (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == 0x2D || c == 0x5F
    }
}
