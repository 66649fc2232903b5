import Base
/// A small JSON writer for request payloads: member order is kept as written,
/// and `raw` embeds an already serialized JSON text (a JWS object for EAB).
enum JSONValue: Sendable {
    case string(String)
    case bool(Bool)
    case array([JSONValue])
    case object([(String, JSONValue)])
    case raw(String)

    var serialized: String {
        var out = ""
        write(into: &out)
        return out
    }

    private func write(into out: inout String) {
        switch self {
        case .string(let s): out += jsonString(s)
        case .bool(let b): out += b ? "true" : "false"
        case .raw(let text): out += text
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                item.write(into: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (i, (key, value)) in members.enumerated() {
                if i > 0 { out += "," }
                out += jsonString(key)
                out += ":"
                value.write(into: &out)
            }
            out += "}"
        }
    }
}
