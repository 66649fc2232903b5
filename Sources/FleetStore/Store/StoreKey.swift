import ACMECrypto
import Base
import Glibc

/// `--store-key FILE`: the AES-256-GCM key that encrypts private keys and account keys in the
/// store. The file holds 32 random bytes in base64 (`openssl rand -base64 32`), one line, and
/// must not be readable by group or others (0600 or 0400); every node has the same file.
public struct StoreKey: Sendable {
    let key: SealingKey
    public let path: String

    /// The most a key file may hold: 32 bytes are 44 characters of base64.
    static let maxFileSize = 1024

    public init(file: String) throws {
        let path = LocalSystem.absolutePath(file)
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else {
            throw FleetStoreError(.badKeyFile, "cannot read the store key \(path): \(FS.errorText()); make one with: (umask 077; openssl rand -base64 32 > \(path))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            throw FleetStoreError(.badKeyFile, "the store key \(path) is not a regular file; give the file made with openssl rand -base64 32")
        }
        guard info.st_mode & 0o077 == 0 else {
            throw FleetStoreError(.badKeyFile, "the store key \(path) is readable by group or others (mode \(String(info.st_mode & 0o777, radix: 8))); chmod 600 \(path)")
        }
        guard info.st_size <= Self.maxFileSize else {
            throw FleetStoreError(.badKeyFile, "the store key \(path) is larger than \(Self.maxFileSize) bytes; it must hold 32 bytes in base64 (openssl rand -base64 32)")
        }
        var buffer = [UInt8](repeating: 0, count: Self.maxFileSize + 1)
        let count = Glibc.read(fd, &buffer, buffer.count)
        defer { for i in buffer.indices { buffer[i] = 0 } }
        guard count >= 0 else { throw FleetStoreError(.badKeyFile, "cannot read the store key \(path): \(FS.errorText())") }
        let text = String(decoding: buffer.prefix(count), as: UTF8.self).filter { !$0.isWhitespace }
        guard !text.isEmpty, text.allSatisfy({ $0.isLetter || $0.isNumber || "+/=".contains($0) }),
              let bytes = Base64URL.decode(text), bytes.count == SealingKey.length else {
            // Never the content: it is (or is meant to be) a secret.
            throw FleetStoreError(.badKeyFile, "the store key \(path) does not hold 32 bytes in base64; make one with: (umask 077; openssl rand -base64 32 > \(path))")
        }
        self.key = try SealingKey(bytes: bytes)
        self.path = path
    }

    /// What binds a sealed value to its row: moved to another row, it does not open.
    enum Binding {
        case privateKey(lineage: String, version: Int)
        case accountKey(serverPath: String, id: String)
        case keyCheck

        var associatedData: [UInt8] {
            switch self {
            case .privateKey(let lineage, let version): Array("acme-store/1 privkey \(lineage) \(version)".utf8)
            case .accountKey(let serverPath, let id): Array("acme-store/1 account \(serverPath) \(id)".utf8)
            case .keyCheck: Array("acme-store/1 key-check".utf8)
            }
        }
    }

    func seal(_ plaintext: [UInt8], for binding: Binding) throws -> [UInt8] {
        try SealedBox.seal(plaintext, key: key, associatedData: binding.associatedData)
    }

    func open(_ box: [UInt8], for binding: Binding, what: String) throws -> [UInt8] {
        do {
            return try SealedBox.open(box, key: key, associatedData: binding.associatedData)
        } catch let error as CryptoError where error.code == .sealedBoxRejected {
            throw FleetStoreError(.wrongKey, "\(what) does not decrypt with the store key \(path): it is not the key the store was encrypted with (or the row was changed); give the key file every node shares")
        }
    }
}
