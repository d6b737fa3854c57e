import FoundationEssentials

/// The JSON forms of etcd's gRPC gateway (etcd 3.4, `/v3/...`): proto3 JSON, so 64-bit integers
/// are strings, bytes are base64 and fields at their default value are left out.
struct I64: Codable, Sendable, Equatable {
    var value: Int64

    init(_ value: Int64) { self.value = value }

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let s = try? c.decode(String.self), let v = Int64(s) {
            value = v
        } else {
            value = try c.decode(Int64.self)
        }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(String(value))
    }
}

func base64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }
func base64(_ text: String) -> String { base64(Array(text.utf8)) }

func unbase64(_ text: String?) -> [UInt8]? {
    guard let text else { return [] }
    return Data(base64Encoded: text).map { [UInt8]($0) }
}

struct ResponseHeader: Decodable, Sendable {
    var revision: I64?
}

struct GatewayError: Decodable, Sendable {
    var error: String?
    var message: String?
    var code: Int?
}

struct RawKeyValue: Decodable, Sendable {
    var key: String?
    var value: String?
    var create_revision: I64?
    var mod_revision: I64?
    var version: I64?
    var lease: I64?
}

struct RangeRequest: Encodable {
    var key: String
    var range_end: String?
    var revision: I64?
    var limit: I64?
    var keys_only: Bool?
}

struct RangeReply: Decodable {
    var header: ResponseHeader?
    var kvs: [RawKeyValue]?
    var count: I64?
}

struct PutRequest: Encodable {
    var key: String
    var value: String
    var lease: I64?
}

struct PutReply: Decodable {
    var header: ResponseHeader?
}

struct DeleteRangeRequest: Encodable {
    var key: String
    var range_end: String?
}

struct DeleteRangeReply: Decodable {
    var header: ResponseHeader?
    var deleted: I64?
}

struct TxnCompare: Encodable {
    var key: String
    var result: String
    var target: String
    var mod_revision: I64
}

struct TxnOperation: Encodable {
    var request_put: PutRequest
}

struct TxnRequest: Encodable {
    var compare: [TxnCompare]
    var success: [TxnOperation]
    var failure: [TxnOperation]
}

struct TxnReply: Decodable {
    var header: ResponseHeader?
    var succeeded: Bool?
}

struct LeaseGrantRequest: Encodable {
    var TTL: I64
    var ID: I64
}

struct LeaseGrantReply: Decodable {
    var ID: I64?
    var TTL: I64?
    var error: String?
}

struct LeaseIDRequest: Encodable {
    var ID: I64
}

struct LeaseKeepAliveReply: Decodable {
    struct Result: Decodable {
        var ID: I64?
        var TTL: I64?
    }
    var result: Result?
}

struct AuthenticateRequest: Encodable {
    var name: String
    var password: String
}

struct AuthenticateReply: Decodable {
    var token: String?
}

struct WatchCreate: Encodable {
    struct Create: Encodable {
        var key: String
        var range_end: String?
        var start_revision: I64
        var progress_notify: Bool
    }
    var create_request: Create
}

struct WatchReply: Decodable {
    struct Result: Decodable {
        struct Event: Decodable {
            var type: String?
            var kv: RawKeyValue?
        }
        var header: ResponseHeader?
        var created: Bool?
        var canceled: Bool?
        var compact_revision: I64?
        var cancel_reason: String?
        var events: [Event]?
    }
    var result: Result?
    var error: GatewayError?
}
