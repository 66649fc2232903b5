import Base

/// JSON Web Signatures in the flattened JSON serialization ACME requires
/// (RFC 8555 §6.2, RFC 7515 §7.2.2).
public enum JWS {
    /// Signs an ACME request. With `keyID` nil the protected header carries
    /// the public `jwk` (newAccount, revocation by certificate key);
    /// otherwise the account URL as `kid`. A nil payload is POST-as-GET.
    public static func sign(payload: String?, url: String, nonce: String, key: PrivateKey, keyID: String?) throws -> String {
        var header = "{\"alg\":\(jsonString(key.jwsAlgorithm)),"
        if let keyID {
            header += "\"kid\":\(jsonString(keyID)),"
        } else {
            header += "\"jwk\":\(key.publicJWK.json),"
        }
        header += "\"nonce\":\(jsonString(nonce)),\"url\":\(jsonString(url))}"
        let protected = Base64URL.encode(header)
        let encodedPayload = payload.map { Base64URL.encode($0) } ?? ""
        let signature = try key.sign(Array("\(protected).\(encodedPayload)".utf8))
        return flattened(protected: protected, payload: encodedPayload, signature: signature)
    }

    /// The inner JWS of an account key change (RFC 8555 §7.3.5): signed by the new
    /// key, carrying its `jwk`, no nonce; the payload names the account and its old key.
    public static func keyChange(newKey: PrivateKey, oldKey: JWK, accountURL: String, url: String) throws -> String {
        let header = "{\"alg\":\(jsonString(newKey.jwsAlgorithm)),\"jwk\":\(newKey.publicJWK.json),\"url\":\(jsonString(url))}"
        let protected = Base64URL.encode(header)
        let payload = Base64URL.encode("{\"account\":\(jsonString(accountURL)),\"oldKey\":\(oldKey.json)}")
        let signature = try newKey.sign(Array("\(protected).\(payload)".utf8))
        return flattened(protected: protected, payload: payload, signature: signature)
    }

    /// The `externalAccountBinding` object for newAccount (RFC 8555 §7.3.4):
    /// the account's public JWK, MACed with the CA-issued HMAC key.
    public static func externalAccountBinding(accountKey: JWK, keyID: String, macKey: [UInt8], url: String) throws -> String {
        guard !macKey.isEmpty else { throw CryptoError(.invalidKey, "the EAB HMAC key is empty") }
        let header = "{\"alg\":\"HS256\",\"kid\":\(jsonString(keyID)),\"url\":\(jsonString(url))}"
        let protected = Base64URL.encode(header)
        let payload = Base64URL.encode(accountKey.json)
        let mac = Digest.hmacSHA256(key: macKey, message: Array("\(protected).\(payload)".utf8))
        return flattened(protected: protected, payload: payload, signature: mac)
    }

    private static func flattened(protected: String, payload: String, signature: [UInt8]) -> String {
        "{\"protected\":\"\(protected)\",\"payload\":\"\(payload)\",\"signature\":\"\(Base64URL.encode(signature))\"}"
    }
}
