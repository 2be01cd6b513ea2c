#!/usr/bin/env python3
"""make_seeds.py - regenerates the aws-chunked seeds of tests/fuzz/corpus/fuzz_chunked/ (and the
signed HTTP requests of corpus/fuzz_sigv4/) with the AWS documentation example key
AKIAIOSFODNN7EXAMPLE at 20130524T000000Z, us-east-1. The other corpora are hand-written."""
import base64, binascii, hashlib, hmac, os, struct, zlib

SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'
AKID = 'AKIAIOSFODNN7EXAMPLE'
DATE = '20130524T000000Z'
SCOPE = '20130524/us-east-1/s3/aws4_request'
SEED_SIGNED = '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9'
SEED_TRAILER = '106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e'
EMPTY = hashlib.sha256(b'').hexdigest()
HERE = os.path.dirname(os.path.abspath(__file__))


def hm(k, m):
    return hmac.new(k, m if isinstance(m, bytes) else m.encode(), hashlib.sha256).digest()


def skey():
    k = hm(('AWS4' + SECRET).encode(), '20130524')
    return hm(hm(hm(k, 'us-east-1'), 's3'), 'aws4_request')


KEY = skey()


def chunk_sig(prev, data):
    sts = '\n'.join(['AWS4-HMAC-SHA256-PAYLOAD', DATE, SCOPE, prev, EMPTY,
                     hashlib.sha256(data).hexdigest()])
    return hm(KEY, sts).hex()


def trailer_sig(prev, lines):
    sts = '\n'.join(['AWS4-HMAC-SHA256-TRAILER', DATE, SCOPE, prev,
                     hashlib.sha256(lines.encode()).hexdigest()])
    return hm(KEY, sts).hex()


def checksum(alg, data):
    if alg == 1:
        raw = struct.pack('>I', zlib.crc32(data))
    elif alg == 3:
        raw = hashlib.sha1(data).digest()
    elif alg == 4:
        raw = hashlib.sha256(data).digest()
    else:
        return None
    return base64.b64encode(raw).decode()


TRAILER_NAMES = [None, 'x-amz-checksum-crc32', 'x-amz-checksum-crc32c', 'x-amz-checksum-sha1',
                 'x-amz-checksum-sha256', 'x-amz-checksum-crc64nvme']


def body(mode, pieces, alg=0, blank=False, value=None):
    """mode 0 signed, 1 signed+trailer, 2 unsigned+trailer."""
    out = b''
    prev = SEED_SIGNED if mode == 0 else SEED_TRAILER
    for d in list(pieces) + [b'']:
        if mode == 2:
            out += b'%x\r\n' % len(d)
        else:
            prev = chunk_sig(prev, d)
            out += b'%x;chunk-signature=%s\r\n' % (len(d), prev.encode())
        if d:
            out += d + b'\r\n'
    if mode == 0:
        return out
    if blank:
        out += b'\r\n'
    if alg:
        v = value or checksum(alg, b''.join(pieces)) or 'AAAAAAAAAAA='
        line = '%s:%s' % (TRAILER_NAMES[alg], v)
        out += line.encode() + b'\r\n'
        if mode == 1:
            out += b'x-amz-trailer-signature:%s\r\n' % trailer_sig(prev, line + '\n').encode()
    out += b'\r\n'
    return out


def prefix(mode, alg, pieces, flags=1, split=0):
    n = sum(len(p) for p in pieces)
    return bytes([mode, alg, flags, split, (n >> 16) & 255, (n >> 8) & 255, n & 255])


def chunked_seeds():
    d = os.path.join(HERE, 'corpus', 'fuzz_chunked')
    os.makedirs(d, exist_ok=True)
    hw = [b'hello ', b'world']
    two = [b'a' * 1024, b'a' * 17]
    ten = [b'a' * 10]
    cases = {
        'signed_hello': prefix(0, 0, hw) + body(0, hw),
        'signed_hello_split': prefix(0, 0, hw, split=7) + body(0, hw),
        'signed_md5': prefix(0, 0, hw, flags=3) + body(0, hw),
        'signed_one': prefix(0, 0, [b'a' * 100]) + body(0, [b'a' * 100]),
        'signed_empty': prefix(0, 0, []) + body(0, []),
        'signed_aws_small': prefix(0, 0, two) + body(0, two),
        'signed_no_len': prefix(0, 0, hw, flags=0) + body(0, hw),
        'signed_wrong_len': bytes([0, 0, 1, 0, 0, 0, 99]) + body(0, hw),
        'signed_badsig': (prefix(0, 0, hw) +
                          body(0, hw).replace(b'signature=', b'signature=0', 1)[:-1]),
        'signed_bad_hex': prefix(0, 0, []) + b'zz;chunk-signature=' + b'0' * 64 + b'\r\n',
        'signed_huge_size': (prefix(0, 0, []) + b'f' * 16 + b';chunk-signature=' + b'0' * 64 +
                             b'\r\n'),
        'signed_trailer_crc32': prefix(1, 1, hw) + body(1, hw, alg=1),
        'signed_trailer_sha256': prefix(1, 4, hw, split=3) + body(1, hw, alg=4),
        'signed_trailer_sha1_blank': prefix(1, 3, hw) + body(1, hw, alg=3, blank=True),
        'signed_trailer_crc32c_aws': prefix(1, 2, ten) + body(1, ten, alg=2, value='sOO8/Q=='),
        'signed_trailer_none': prefix(1, 0, hw) + body(1, hw),
        'signed_trailer_sdk': prefix(1, 1, hw, flags=5) + body(1, hw, alg=1),
        'unsigned_crc32': prefix(2, 1, hw) + body(2, hw, alg=1),
        'unsigned_crc32_split': prefix(2, 1, hw, split=200) + body(2, hw, alg=1),
        'unsigned_sha256': prefix(2, 4, hw) + body(2, hw, alg=4),
        'unsigned_sha1': prefix(2, 3, [b'x' * 300]) + body(2, [b'x' * 300], alg=3),
        'unsigned_crc64': prefix(2, 5, hw) + body(2, hw, alg=5, value='AAAAAAAAAAA='),
        'unsigned_blank': prefix(2, 1, hw) + body(2, hw, alg=1, blank=True),
        'unsigned_no_trailer': prefix(2, 1, hw) + b'6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n',
        'unsigned_ext': prefix(2, 0, hw) + b'6;foo=bar\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n',
        'unsigned_bare_lf': prefix(2, 0, hw) + b'6\nhello \n5\nworld\n0\n\n',
        'unsigned_garbage_after': prefix(2, 1, hw) + body(2, hw, alg=1) + b'junk',
        'unsigned_many': prefix(2, 1, [bytes([i]) * i for i in range(1, 30)]) +
                         body(2, [bytes([i]) * i for i in range(1, 30)], alg=1),
    }
    for name, data in cases.items():
        with open(os.path.join(d, name), 'wb') as f:
            f.write(data)


def q_enc(s, slash=True):
    safe = '-_.~' + ('' if slash else '/')
    return ''.join(c if c.isalnum() and c.isascii() or c in safe else '%%%02X' % b
                   for c in s for b in c.encode())


def sign_v4(method, path, query, headers, payload, presign=False):
    """Returns the request head text (the fuzz_sigv4 input format)."""
    headers = dict(headers)
    names = sorted(k.lower() for k in headers)
    signed = ';'.join(names)
    cred = '%s/%s' % (AKID, SCOPE)
    if presign:
        query = dict(query)
        query.update({'X-Amz-Algorithm': 'AWS4-HMAC-SHA256', 'X-Amz-Credential': cred,
                      'X-Amz-Date': DATE, 'X-Amz-Expires': '86400', 'X-Amz-SignedHeaders': signed})
    cq = '&'.join('%s=%s' % (q_enc(k), q_enc(v)) for k, v in sorted(query.items()))
    ch = ''.join('%s:%s\n' % (k, ' '.join(str(headers[o]).split()))
                 for k in names for o in headers if o.lower() == k)
    creq = '\n'.join([method, path, cq, ch, signed, payload])
    sts = '\n'.join(['AWS4-HMAC-SHA256', DATE, SCOPE, hashlib.sha256(creq.encode()).hexdigest()])
    sig = hm(KEY, sts).hex()
    if presign:
        cq += '&X-Amz-Signature=' + sig
    else:
        headers['Authorization'] = ('AWS4-HMAC-SHA256 Credential=%s,SignedHeaders=%s,Signature=%s'
                                    % (cred, signed, sig))
    target = path + ('?' + cq if cq else '')
    return '%s %s\n' % (method, target) + ''.join('%s: %s\n' % kv for kv in headers.items())


def sign_v2(method, path, headers, subres=''):
    sts = '\n'.join([method, headers.get('Content-MD5', ''), headers.get('Content-Type', ''),
                     headers.get('Date', '')]) + '\n' + path + subres
    sig = base64.b64encode(hmac.new(SECRET.encode(), sts.encode(), hashlib.sha1).digest()).decode()
    headers = dict(headers)
    headers['Authorization'] = 'AWS %s:%s' % (AKID, sig)
    return '%s %s%s\n' % (method, path, subres) + ''.join('%s: %s\n' % kv for kv in headers.items())


def sigv4_seeds():
    d = os.path.join(HERE, 'corpus', 'fuzz_sigv4')
    os.makedirs(d, exist_ok=True)
    h = {'Host': 'examplebucket.s3.amazonaws.com', 'x-amz-date': DATE,
         'x-amz-content-sha256': EMPTY}
    put_hash = hashlib.sha256(b'Welcome to Amazon S3.').hexdigest()
    cases = {
        'get_range': sign_v4('GET', '/test.txt', {}, dict(h, Range='bytes=0-9'), EMPTY),
        'get_path_style': sign_v4('GET', '/examplebucket/test.txt', {},
                                  dict(h, Host='s3.amazonaws.com'), EMPTY),
        'put_object': sign_v4('PUT', '/test%24file.text', {},
                              {'Host': 'examplebucket.s3.amazonaws.com', 'Date':
                               'Fri, 24 May 2013 00:00:00 GMT', 'x-amz-date': DATE,
                               'x-amz-storage-class': 'REDUCED_REDUNDANCY',
                               'x-amz-content-sha256': put_hash}, put_hash),
        'get_lifecycle': sign_v4('GET', '/', {'lifecycle': ''}, h, EMPTY),
        'list_objects': sign_v4('GET', '/', {'max-keys': '2', 'prefix': 'J'}, h, EMPTY),
        'list_v2_unicode': sign_v4('GET', '/', {'list-type': '2', 'prefix': 'd\u00e9j\u00e0 vu/',
                                                'delimiter': '/'}, h, EMPTY),
        'unsigned_payload': sign_v4('PUT', '/k', {}, dict(h, **{'x-amz-content-sha256':
                                    'UNSIGNED-PAYLOAD', 'Content-Length': '5'}),
                                    'UNSIGNED-PAYLOAD'),
        'presigned_get': sign_v4('GET', '/test.txt', {}, {'Host':
                                 'examplebucket.s3.amazonaws.com'}, 'UNSIGNED-PAYLOAD', True),
        'presigned_put_ct': sign_v4('PUT', '/photos/a%20b.jpg', {'x-id': 'PutObject'},
                                    {'Host': 's3.amazonaws.com', 'Content-Type': 'image/jpeg'},
                                    'UNSIGNED-PAYLOAD', True),
        'streaming_signed': sign_v4('PUT', '/examplebucket/chunkObject.txt', {},
                                    {'Host': 's3.amazonaws.com', 'x-amz-date': DATE,
                                     'x-amz-storage-class': 'REDUCED_REDUNDANCY',
                                     'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
                                     'Content-Encoding': 'aws-chunked',
                                     'x-amz-decoded-content-length': '66560',
                                     'Content-Length': '66824'},
                                    'STREAMING-AWS4-HMAC-SHA256-PAYLOAD'),
        'streaming_trailer': sign_v4('PUT', '/b/k', {}, dict(h, **{
            'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER',
            'Content-Encoding': 'aws-chunked', 'x-amz-trailer': 'x-amz-checksum-crc32',
            'x-amz-decoded-content-length': '11'}), 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER'),
        'unsigned_trailer': sign_v4('PUT', '/b/k', {}, dict(h, **{
            'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
            'Content-Encoding': 'aws-chunked', 'x-amz-trailer': 'x-amz-checksum-crc32c',
            'x-amz-decoded-content-length': '11'}), 'STREAMING-UNSIGNED-PAYLOAD-TRAILER'),
        'multipart_create': sign_v4('POST', '/b/big.bin', {'uploads': ''}, h, EMPTY),
        'delete_objects': sign_v4('POST', '/b', {'delete': ''}, dict(h, **{
            'Content-MD5': '1B2M2Y8AsgTpgAmY7PhCfg=='}), EMPTY),
        'sigv2_get': sign_v2('GET', '/johnsmith/photos/puppy.jpg',
                             {'Host': 'johnsmith.s3.amazonaws.com',
                              'Date': 'Fri, 24 May 2013 00:00:00 +0000'}),
        'sigv2_put': sign_v2('PUT', '/johnsmith/photos/puppy.jpg',
                             {'Host': 'johnsmith.s3.amazonaws.com', 'Content-Type': 'image/jpeg',
                              'Content-Length': '94328',
                              'Date': 'Fri, 24 May 2013 00:00:00 GMT'}),
        'sigv2_acl': sign_v2('GET', '/johnsmith/', {'Host': 's3.amazonaws.com',
                             'Date': 'Fri, 24 May 2013 00:00:00 GMT'}, '?acl'),
        'anonymous': 'GET /public/file.txt\nHost: s3.amazonaws.com\n',
        'sigv2_presigned': ('GET /johnsmith/photos/puppy.jpg?AWSAccessKeyId=%s&Expires=1369400000'
                            '&Signature=NpgCjnDzrM%%2BWFzoENXmpNDUsSn8%%3D\n'
                            'Host: s3.amazonaws.com\n'
                            % AKID),
        'bad_date': sign_v4('GET', '/k', {}, dict(h, **{'x-amz-date': '20130524T000000'}), EMPTY),
        'bad_scope': sign_v4('GET', '/k', {}, h, EMPTY).replace('us-east-1', 'cn-north-1'),
        'unknown_key': sign_v4('GET', '/k', {}, h, EMPTY).replace(AKID, 'AKIAI44QH8DHBEXAMPLE'),
        'dup_headers': sign_v4('GET', '/k', {}, h, EMPTY) + 'x-amz-date: %s\n' % DATE,
        'expired_presign': sign_v4('GET', '/k', {}, {'Host': 'h'}, 'UNSIGNED-PAYLOAD',
                                   True).replace('X-Amz-Expires=86400', 'X-Amz-Expires=604801'),
    }
    for name, text in cases.items():
        with open(os.path.join(d, name), 'wb') as f:
            f.write(text.encode())


if __name__ == '__main__':
    chunked_seeds()
    sigv4_seeds()
