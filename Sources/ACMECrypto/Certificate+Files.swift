import Base

/// Keys and certificates read from files: a regular file of bounded size (`FS.read`), and an
/// error that names the file whatever went wrong (unreadable, not PEM, encrypted).
extension PrivateKey {
    public convenience init(file path: String) throws {
        try self.init(pem: try FS.read(path), file: path)
    }

    /// A key whose text was read elsewhere (a lineage's file, read without following links);
    /// errors name `path`.
    public convenience init(pem text: String, file path: String) throws {
        do {
            try self.init(pem: text)
        } catch let error as CryptoError {
            throw CryptoError(error.code, "\(path): \(error.message)")
        }
    }
}

extension Certificate {
    public init(file path: String) throws {
        try self.init(pem: try FS.read(path), file: path)
    }

    /// A certificate whose text was read elsewhere (a lineage's file); errors name `path`.
    public init(pem text: String, file path: String) throws {
        do {
            try self.init(pem: text)
        } catch let error as CryptoError {
            throw CryptoError(error.code, "\(path): \(error.message)")
        }
    }

    public static func chain(file path: String) throws -> [Certificate] {
        try chain(pem: try FS.read(path), file: path)
    }

    public static func chain(pem text: String, file path: String) throws -> [Certificate] {
        do {
            return try chain(pem: text)
        } catch let error as CryptoError {
            throw CryptoError(error.code, "\(path): \(error.message)")
        }
    }
}
