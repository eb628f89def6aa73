"""SIP torture messages after RFC 4475, composed for the 995 service (not copied from the RFC).

Each case names the RFC's test it follows, the message (with ``{host}``, ``{port}`` for the
service and ``{local}`` for the sender's port filled in by :func:`render`) and what the service
must do with it: the final response code it answers with, or ``None`` for "no answer" (responses
and messages that cannot be answered are dropped). ``emergency`` says whether the household's key
press must reach ``on_emergency`` (every INVITE we can read does, even one we refuse).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

SDP = (
    "v=0\r\no=household 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
)


@dataclass(frozen=True)
class Case:
    name: str  # RFC 4475 test name (or ours, for cases the RFC does not have)
    section: str
    text: str  # message with placeholders; "\n" becomes CRLF in the head, the body is sent as written
    expected: int | None
    emergency: bool = False
    body: str = ""
    blank_line: bool = True  # False: the head is sent without the empty line that ends it

    def render(self, port: int, local: int, host: str = "127.0.0.1") -> bytes:
        call_id = uuid.uuid4().hex
        head = self.text.strip("\n").replace("\n", "\r\n")
        for key, value in {"{host}": host, "{port}": str(port), "{local}": str(local), "{cid}": call_id,
                           "{cl}": str(len(self.body.encode()))}.items():
            head = head.replace(key, value)
        return head.encode() + (b"\r\n\r\n" if self.blank_line else b"\r\n") + self.body.encode()


def _common(method: str, cseq: str = "") -> str:
    return (
        "Via: SIP/2.0/UDP {host}:{local};branch=z9hG4bK" + uuid.uuid4().hex[:16] + "\n"
        "From: <sip:13800000100@{host}>;tag=f1\nTo: <sip:995@{host}>\nCall-ID: {cid}\n"
        f"CSeq: 1 {cseq or method}\nMax-Forwards: 70\n"
    )


def _register(name: str, user: str, cseq: str, contact: str, extra: str = "") -> str:
    """A REGISTER for ``user`` with the given Contact (RFC 4475 §3.3 registrar cases)."""
    return (
        "REGISTER sip:{host}:{port} SIP/2.0\n"
        f"Via: SIP/2.0/UDP {{host}}:{{local}};branch=z9hG4bK{name}\nMax-Forwards: 70\n"
        f"From: <sip:{user}@{{host}}>;tag={name}f\nTo: sip:{user}@{{host}}\nCall-ID: {{cid}}\n"
        f"CSeq: {cseq} REGISTER\nContact: {contact}\n{extra}l: 0\n"
    )


OPTIONS_HEAD = "OPTIONS sip:995@{host}:{port} SIP/2.0\n"
INVITE_HEAD = "INVITE sip:995@{host}:{port} SIP/2.0\n"

VALID = [
    Case("wsinv", "3.1.1.1", """
INVITE sip:%39%395@{host}:{port};unknownparam SIP/2.0
TO :
 sip:995@{host}:{port} ;   tag    = 1918181833n
from   : "J Rosenberg \\\\\\"" <sip:13800000101@{host}>
  ;
  tag = 98asjd8
MaX-fOrWaRdS: 0068
Call-ID
 : wsinv.ndaksdj@{host}
Content-Length   : {cl}
cseq: 0009
  INVITE
Via  : SIP  /   2.0
 /UDP
    {host}:{local};branch=z9hG4bK390skdjuw
s :
NewFangledHeader:   newfangled value
 continued newfangled value
UnknownHeaderWithUnusualValue: ;;,,;;,;
Content-Type: application/sdp
v:  SIP  / 2.0  / TCP     spindle.example.com   ;
  branch  =   z9hG4bK9ikj8  ,
 SIP  /    2.0   / UDP  192.168.255.111   ; branch=
 z9hG4bK30239
m:"Quoted string \\"\\"" <sip:13800000101@{host}:{local}> ; newparam =
      newvalue ;
  secondparam ; q = 0.33
""", 200, emergency=True, body=SDP),
    Case("intmeth", "3.1.1.2", """
!interesting-Method0123456789_*+`.%indeed'~ sip:995@{host}:{port};lr SIP/2.0
Via: SIP/2.0/UDP {host}:{local};branch=z9hG4bK-intmeth
To: "BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f" <sip:995@{host}>
From: token1~` token2'+_ token3*%!.- <sip:13800000102@{host}>;fromParam''~+*_!.-%="ok";tag=_token~1'+`*%!-.
Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/"][?}{
CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~
Max-Forwards: 255
extensionHeader-!.%*+_`'~: ~~~~~
Content-Length: 0
""", 400),
    Case("intmeth-clean", "3.1.1.2", """
!interesting-Method0123456789_*+`.%indeed'~ sip:995@{host}:{port};lr SIP/2.0
Via: SIP/2.0/UDP {host}:{local};branch=z9hG4bK-intmeth
To: <sip:995@{host}>
From: token1~` token2'+_ token3*%!.- <sip:13800000102@{host}>;fromParam''~+*_!.-%="ok";tag=_token~1'+`*%!-.
Call-ID: intmeth.word%ZK-!.*_+'@word`~)(><:\\/"][?}{
CSeq: 139122385 !interesting-Method0123456789_*+`.%indeed'~
Max-Forwards: 255
extensionHeader-!.%*+_`'~: ~~~~~
Content-Length: 0
""", 501),
    Case("esc01", "3.1.1.3", INVITE_HEAD.replace("995@", "%39%395@") + _common("INVITE").replace(
        "From: <sip:13800000100@", 'From: "%Z%45" <sip:13800000103@') + """Contact: <sip:%31380000010%33@{host}:{local}>
Content-Type: application/sdp
Content-Length: {cl}
""", 200, emergency=True, body=SDP),
    Case("escnull", "3.1.1.4", """
REGISTER sip:{host}:{port} SIP/2.0
To: sip:null-%00-null@{host}
From: sip:null-%00-null@{host};tag=839923423
Max-Forwards: 70
Call-ID: escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd
CSeq: 14398234 REGISTER
Via: SIP/2.0/UDP {host}:{local};branch=z9hG4bKkdjuw
Contact: <sip:%00@{host}:{local}>
Contact: <sip:%00%00@{host}:{local}>
L:0
""", 405),
    Case("esc02", "3.1.1.5", """
RE%47IST%45R sip:{host}:{port} SIP/2.0
To: "%Z%45" <sip:resource@{host}>
From: "%Z%45" <sip:resource@{host}>;tag=f232jadfj23
Call-ID: esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf
Via: SIP/2.0/UDP {host}:{local};branch=z9hG4bK209%fzsnel234
CSeq: 29344 RE%47IST%45R
Max-Forwards: 70
Contact: <sip:alias1@{host}:{local}>
Contact: <sip:%40%50%50@{host}:{local}>
l: 0
""", 501),
    Case("lwsdisp", "3.1.1.6", OPTIONS_HEAD + _common("OPTIONS").replace(
        "From: <sip:13800000100@{host}>", "From: caller<sip:13800000106@{host}>") + "l: 0\n", 200),
    Case("longreq", "3.1.1.7", INVITE_HEAD + "".join(
        f"Via: SIP/2.0/UDP sip{n}.example.com:5060;branch=z9hG4bK{'k' * 40}{n}\n" for n in range(20)
    ).replace("sip0.example.com:5060", "{host}:{local}") + (
        "To: \"I have a user name of " + "extreme" * 20 + " proportion\" <sip:995@{host}>\n"
        "From: <sip:13800000107@{host}>;tag=12982" + "4" * 300 + "\n"
        "Call-ID: longreq." + "one" * 100 + "\nCSeq: 3882340 INVITE\nMax-Forwards: 70\n"
        "Contact: <sip:13800000107@{host}:{local}>\n"
        "X-Long-Unknown: " + "long" * 300 + "\nContent-Type: application/sdp\nl: {cl}\n"
    ), 200, emergency=True, body=SDP),
    Case("dblreq", "3.1.1.8", """
REGISTER sip:{host}:{port} SIP/2.0
To: sip:j.user@{host}
From: sip:j.user@{host};tag=43251j3j324
Max-Forwards: 8
I: dblreq.0ha0isndaksdj99sdfafnl3lk233412
Contact: sip:j.user@{host}:{local}
l: 0
CSeq: 8 REGISTER
Via: SIP/2.0/UDP {host}:{local};branch=z9hG4bKdbl
""", 405, body=(
        "INVITE sip:995@127.0.0.1 SIP/2.0\r\nTo: sip:995@127.0.0.1\r\nFrom: sip:13800000108@127.0.0.1;tag=2\r\n"
        "Call-ID: dblreq-inner\r\nCSeq: 8 INVITE\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKinner\r\n"
        "Content-Length: 0\r\n\r\n")),
    Case("semiuri", "3.1.1.9", OPTIONS_HEAD.replace("995@", "995;par=u%40example.net@")
         + _common("OPTIONS") + "l: 0\n", 200),
    Case("transports", "3.1.1.10", OPTIONS_HEAD + _common("OPTIONS") + """\
Via: SIP/2.0/SCTP t1.example.com;branch=z9hG4bKsctp
Via: SIP/2.0/TLS t2.example.com;branch=z9hG4bKtls
Via: SIP/2.0/UNKNOWN t3.example.com;branch=z9hG4bKunknown
Via: SIP/2.0/TCP t4.example.com;branch=z9hG4bKtcp
l: 0
""", 200),
    Case("mpart01", "3.1.1.11", INVITE_HEAD + _common("INVITE").replace("13800000100", "13800000111") + """\
Contact: <sip:13800000111@{host}:{local}>
MIME-Version: 1.0
Content-Type: multipart/mixed;boundary=7a9cbec02ceef655
Content-Length: {cl}
""", 488, emergency=True, body=(
        "--7a9cbec02ceef655\r\nContent-Type: application/sdp\r\n\r\n" + SDP + "\r\n"
        "--7a9cbec02ceef655\r\nContent-Type: application/octet-stream\r\n\r\n\x01\x02\x03\r\n"
        "--7a9cbec02ceef655--\r\n")),
    Case("unreason", "3.1.1.12", """
SIP/2.0 200 = 2**3 * 5**2 но сто девяносто девять - простое
Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bK-unreason
Call-ID: unreason.1234ksdfak3j2erwedfsASdf
CSeq: 35 INVITE
From: sip:995@{host};tag=11141343
To: sip:13800000112@{host};tag=2229
Content-Length: 0
""", None),
    Case("noreason", "3.1.1.13", """
SIP/2.0 100 \nVia: SIP/2.0/UDP {host}:{port};branch=z9hG4bK-noreason
Call-ID: noreason.asndj203insdf99223ndf
CSeq: 35 INVITE
From: <sip:995@{host}>;tag=39ansfi3
To: <sip:13800000113@{host}>;tag=902jndnke3
Content-Length: 0
""", None),
]

INVALID = [
    Case("badinv01", "3.1.2.1", INVITE_HEAD + """Via: SIP/2.0/UDP {host}:{local};branch=z9hG4bK-badinv01;;,;,,
To: "Mr. J. User <sip:995@{host}>
From: "Bell, Alexander" <sip:13800000201@{host}>;;;;tag=433423
Call-ID: badinv01.0ha0isndaksdjasdf3234nas
CSeq: 8 INVITE
Max-Forwards: 70
Contact: ;;,;,,
Content-Type: application/sdp
l: {cl}
""", 400, body=SDP),
    Case("clerr", "3.1.2.2", INVITE_HEAD + _common("INVITE").replace("13800000100", "13800000202")
         + "Content-Type: application/sdp\nContent-Length: 9999\n", 400, body=SDP),
    Case("ncl", "3.1.2.3", INVITE_HEAD + _common("INVITE").replace("13800000100", "13800000203")
         + "Content-Type: application/sdp\nContent-Length: -999\n", 400, body=SDP),
    Case("scalar02", "3.1.2.4", """
REGISTER sip:{host}:{port} SIP/2.0
Via: SIP/2.0/UDP {host}:{local};branch=z9hG4bKsxscalar02
Max-Forwards: 300
From: sip:2e3@{host};tag=239232jh3
To: sip:2e3@{host}
Call-ID: scalar02.23o0pd9vanlq3wnrlnewofjas9ui32
CSeq: 36893488147419103232 REGISTER
Contact: <sip:2e3@{host}:{local}>;expires=280297596632815
Expires: 1020494012500
Content-Length: 0
""", 400),
    Case("scalarlg", "3.1.2.5", """
SIP/2.0 503 Service Unavailable
Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bKzzxdiwo34sw;received=192.0.2.129
To: <sip:13800000205@{host}>
From: <sip:995@{host}>;tag=2easdjfejw
CSeq: 9292394834772304023312 OPTIONS
Call-ID: scalarlg.noase0of0234hn2qofoaf0232aewf2394r
Retry-After: 949302838503028349304023988
Warning: 1812 overture "In Progress"
Content-Length: 0
""", None),
    Case("quotbal", "3.1.2.6", INVITE_HEAD + _common("INVITE").replace(
        "To: <sip:995@{host}>", 'To: "Mr. J. User <sip:995@{host}>') + "Content-Type: application/sdp\nl: {cl}\n",
        400, body=SDP),
    Case("ltgtruri", "3.1.2.7", INVITE_HEAD.replace("sip:995@{host}:{port}", "<sip:995@{host}:{port}>")
         + _common("INVITE") + "Content-Type: application/sdp\nl: {cl}\n", 400, body=SDP),
    Case("lwsruri", "3.1.2.8", INVITE_HEAD.replace("{port}", "{port}; lr") + _common("INVITE")
         + "Content-Type: application/sdp\nl: {cl}\n", 400, body=SDP),
    Case("lwsstart", "3.1.2.9", INVITE_HEAD.replace(" ", "  ") + _common("INVITE")
         + "Content-Type: application/sdp\nl: {cl}\n", 400, body=SDP),
    Case("trws", "3.1.2.10", OPTIONS_HEAD.replace("SIP/2.0", "SIP/2.0 ") + _common("OPTIONS") + "l: 0\n", 400),
    Case("escruri", "3.1.2.11", INVITE_HEAD.replace("{port}", "{port}?Route=%3Csip:example.com%3E")
         + _common("INVITE") + "Content-Type: application/sdp\nl: {cl}\n", 400, body=SDP),
    Case("baddate", "3.1.2.12", INVITE_HEAD + _common("INVITE").replace("13800000100", "13800000212")
         + "Date: Fri, 01 Jan 2010 16:00:00 EST\nContact: <sip:13800000212@{host}:{local}>\n"
         "Content-Type: application/sdp\nl: {cl}\n", 200, emergency=True, body=SDP),
    Case("regbadct", "3.1.2.13", """
REGISTER sip:{host}:{port} SIP/2.0
Via: SIP/2.0/UDP {host}:{local};branch=z9hG4bKregbadct
Max-Forwards: 70
From: sip:user@{host};tag=998332
To: sip:user@{host}
Call-ID: regbadct.k345asrl3fdbv@10.0.0.1
CSeq: 1 REGISTER
Contact: sip:user@{host}:{local}?Route=%3Csip:sip.example.com%3E
l: 0
""", 405),
    Case("badaspec", "3.1.2.14", OPTIONS_HEAD + _common("OPTIONS").replace(
        "To: <sip:995@{host}>", 'To: "Watson, Thomas" < sip:995@{host} >') + "l: 0\n", 400),
    Case("baddn", "3.1.2.15", OPTIONS_HEAD + _common("OPTIONS").replace(
        "From: <sip:13800000100@{host}>", "From: Bell, Alexander <sip:13800000215@{host}>") + "l: 0\n", 400),
    Case("badvers", "3.1.2.16", OPTIONS_HEAD.replace("SIP/2.0", "SIP/7.0") + _common("OPTIONS") + "l: 0\n", 505),
    Case("mismatch01", "3.1.2.17", OPTIONS_HEAD + _common("OPTIONS", cseq="INVITE") + "l: 0\n", 400),
    Case("mismatch02", "3.1.2.18", OPTIONS_HEAD.replace("OPTIONS", "NEWMETHOD")
         + _common("NEWMETHOD", cseq="INVITE") + "l: 0\n", 400),
    Case("bigcode", "3.1.2.19", """
SIP/2.0 4294967301 better not break the receiver
Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bK-bigcode
Call-ID: bigcode.asdof3uj203asdnf3429uasdhfas3ehjasdfas9i
CSeq: 353494 INVITE
From: <sip:995@{host}>;tag=39ansfi3
To: <sip:13800000219@{host}>;tag=902jndnke3
Content-Length: 0
""", None),
]

SEMANTIC = [
    Case("badbranch", "3.2.1", OPTIONS_HEAD + "Via: SIP/2.0/UDP {host}:{local};branch=z9hG4bK\n"
         + _common("OPTIONS").split("\n", 1)[1] + "l: 0\n", 200),
    Case("insuf", "3.3.1", INVITE_HEAD + "Via: SIP/2.0/UDP {host}:{local};branch=z9hG4bK-insuf\n"
         "CSeq: 193942 INVITE\nMax-Forwards: 70\nContent-Type: application/sdp\nl: {cl}\n", 400, body=SDP),
    Case("unkscm", "3.3.2", OPTIONS_HEAD.replace("sip:995@{host}:{port}", "nobodyKnowsThisScheme:totallyopaquecontent")
         + _common("OPTIONS") + "l: 0\n", 416),
    Case("novelsc", "3.3.3", OPTIONS_HEAD.replace("sip:995@{host}:{port}", "soap.beep://{host}:{port}/NewsService")
         + _common("OPTIONS") + "l: 0\n", 416),
    Case("unksm2", "3.3.4", OPTIONS_HEAD + _common("OPTIONS").replace(
        "From: <sip:13800000100@{host}>", "From: <http://www.example.com>").replace(
        "To: <sip:995@{host}>", "To: isbn:2983792873") + "Contact: <name:John_Smith>\nl: 0\n", 200),
    Case("bext01", "3.3.5", OPTIONS_HEAD + _common("OPTIONS")
         + "Require: nothingSupportsThis, nothingSupportsThisEither\nProxy-Require: noProxiesSupportThis\nl: 0\n",
         420),
    Case("invut", "3.3.6", INVITE_HEAD + _common("INVITE").replace("13800000100", "13800000306")
         + "Contact: <sip:13800000306@{host}:{local}>\nContent-Type: application/unknownformat\nl: {cl}\n",
         488, emergency=True, body="<audio> <pcmu port=\"443\"/> </audio>\r\n"),
    # 3.3.7, 3.3.12-14: REGISTERs a registrar must cope with. The service is a phone, not a registrar:
    # each is answered 405 (Allow lists what it takes) and leaves registration and calls alone.
    Case("regaut01", "3.3.7", _register("regaut01", "13800000307", "9338", "<sip:13800000307@{host}:{local}>",
                                        "Authorization: NoOneKnowsThisScheme opaque-data=here\n"), 405),
    Case("cparam01", "3.3.12", _register("cparam01", "13800000312", "3",
                                         "sip:13800000312@{host}:{local};expires=280;q=0.5"), 405),
    Case("cparam02", "3.3.13", _register("cparam02", "13800000313", "3",
                                         "<sip:13800000313@{host}:{local};user=phone;expires=280>;q=0.7"), 405),
    Case("regescrt", "3.3.14", _register("regescrt", "13800000314", "14",
                                         "<sip:13800000314@{host}:{local}?Route=%3Csip:proxy.example.com%3E>"), 405),
    Case("multi01", "3.3.8", INVITE_HEAD + _common("INVITE")
         + "Call-ID: multi01.98asdh@192.0.2.2\nFrom: <sip:13800000308@{host}>;tag=3413415\n"
         "Content-Type: application/sdp\nl: {cl}\n", 400, body=SDP),
    Case("mcl01", "3.3.9", OPTIONS_HEAD + _common("OPTIONS") + "Content-Length: 0\nContent-Length: 2\nl: 3\n", 400),
    Case("bcast", "3.3.10", """
SIP/2.0 200 OK
Via: SIP/2.0/UDP 255.255.255.255;branch=z9hG4bK1saber23
Call-ID: bcast.0384840201234ksdfak3j2erwedfsASdf
CSeq: 35 INVITE
From: sip:995@{host};tag=11141343
To: sip:13800000310@{host};tag=2229
Content-Length: 0
""", None),
    Case("zeromf", "3.3.11", OPTIONS_HEAD + _common("OPTIONS").replace("Max-Forwards: 70", "Max-Forwards: 0")
         + "l: 0\n", 200),
    Case("sdp01", "3.3.15", INVITE_HEAD + _common("INVITE").replace("13800000100", "13800000315")
         + "Contact: <sip:13800000315@{host}:{local}>\nAccept: text/nobodyknowsthis\n"
         "Content-Type: application/sdp\nl: {cl}\n", 200, emergency=True, body=SDP),
    Case("inv2543", "3.4.1", """
INVITE sip:995@{host}:{port} SIP/2.0
Via: SIP/2.0/UDP {host}:{local}
From: <sip:13800000341@{host}>
To: <sip:995@{host}>
Call-ID: inv2543.1717@{host}
CSeq: 1 INVITE
Contact: <sip:13800000341@{host}:{local}>
Content-Type: application/sdp
l: {cl}
""", 200, emergency=True, body=SDP),
    Case("nosdp-addr", "ours", INVITE_HEAD + _common("INVITE").replace("13800000100", "13800000401")
         + "Content-Type: application/sdp\nl: {cl}\n", 488, emergency=True,
         body=SDP.replace("c=IN IP4 127.0.0.1", "c=IN IP4 255.255.255.255")),
    Case("sdp-port-overflow", "ours", INVITE_HEAD + _common("INVITE").replace("13800000100", "13800000402")
         + "Content-Type: application/sdp\nl: {cl}\n", 488, emergency=True,
         body=SDP.replace("m=audio 40000", "m=audio 99999")),
    Case("sdp-bad-rtpmap", "ours", INVITE_HEAD + _common("INVITE").replace("13800000100", "13800000403")
         + "Content-Type: application/sdp\nl: {cl}\n", 488, emergency=True,
         body=SDP.replace("a=rtpmap:0", "a=rtpmap:77").replace("RTP/AVP 0 101", "RTP/AVP 0 abc")),
    Case("oversize", "ours", OPTIONS_HEAD + _common("OPTIONS") + "X-Pad: " + "p" * 9000 + "\nl: 0\n", None),
    Case("nul-in-header", "ours", OPTIONS_HEAD + _common("OPTIONS") + "X-Nul: a\x00b\nl: 0\n", 400),
    Case("no-blank-line", "ours", OPTIONS_HEAD + _common("OPTIONS") + "l: 0\n", 400, blank_line=False),
]

CASES = VALID + INVALID + SEMANTIC
