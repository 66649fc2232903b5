/// Decoding the CA's objects so that what we do not use cannot fail what we do: RFC 8555 §7.1
/// lets servers add fields and challenge types, and a future one may carry anything (a
/// `dns-persist-01` challenge has no token). Unknown fields are ignored by `JSONDecoder`;
/// these helpers also ignore an optional field of an unexpected JSON type, and an array
/// element we cannot read (a challenge of an unknown shape), instead of refusing the object.
extension KeyedDecodingContainer {
    /// The field, or nil when it is absent, null or of another JSON type.
    func lenient<T: Decodable>(_ type: T.Type, forKey key: Key) -> T? {
        (try? decodeIfPresent(T.self, forKey: key)) ?? nil
    }

    /// The elements of an array field that decode as `T`; the others are dropped.
    /// Absent, null or not an array: empty.
    func readable<T: Decodable>(_ type: [T].Type, forKey key: Key) -> [T] {
        (lenient([Readable<T>].self, forKey: key) ?? []).compactMap(\.value)
    }
}

/// One array element: its value when it decodes as `T`, else nil (and the array goes on).
struct Readable<T: Decodable>: Decodable {
    var value: T?
    init(from decoder: any Decoder) throws {
        value = try? T(from: decoder)
    }
}
