"""A local stand-in for the GitHub REST endpoints scripts/review-comment calls (the
token's user, list, create and update issue comments), on 127.0.0.1, for the
review-comment test. Two tokens are two users: "test-token" is modelcast-bot,
"stranger-token" is stranger. As on GitHub, a comment records its author and only its
author may update it (403 otherwise). Writes its port to PORT_FILE, keeps comments in
memory, and dumps them as JSON to STATE_FILE after every change.
Usage: github_comments_api.py PORT_FILE STATE_FILE"""
import json
import re
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

port_file, state_file = sys.argv[1], sys.argv[2]
USERS = {"Bearer test-token": "modelcast-bot", "Bearer stranger-token": "stranger"}
comments = []  # {"id", "body", "user": {"login"}}; a few unrelated ones first, to page past
for i in range(150):
    comments.append({"id": 1000 + i, "body": "unrelated comment %d" % i, "user": {"login": "stranger"}})
requests = []


def save():
    with open(state_file, "w") as f:
        json.dump({"comments": comments, "requests": requests}, f)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, code, value):
        data = json.dumps(value).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def authorized(self):
        if self.headers.get("Authorization") not in USERS:
            self.reply(401, {"message": "Bad credentials"})
            return False
        return True

    def login(self):
        return USERS[self.headers.get("Authorization")]

    def body(self):
        return json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))

    def do_GET(self):
        requests.append("GET " + self.path)
        if not self.authorized():
            return
        if self.path == "/user":
            return self.reply(200, {"login": self.login()})
        m = re.fullmatch(r"/repos/o/r/issues/7/comments\?per_page=(\d+)&page=(\d+)", self.path)
        if not m:
            return self.reply(404, {"message": "Not Found"})
        per, page = int(m.group(1)), int(m.group(2))
        self.reply(200, comments[(page - 1) * per:page * per])

    def do_POST(self):
        requests.append("POST " + self.path)
        if not self.authorized():
            return
        if self.path != "/repos/o/r/issues/7/comments":
            return self.reply(404, {"message": "Not Found"})
        c = {"id": 5000 + len(comments), "body": self.body()["body"], "user": {"login": self.login()}}
        comments.append(c)
        save()
        self.reply(201, c)

    def do_PATCH(self):
        requests.append("PATCH " + self.path)
        if not self.authorized():
            return
        m = re.fullmatch(r"/repos/o/r/issues/comments/(\d+)", self.path)
        found = [c for c in comments if m and c["id"] == int(m.group(1))]
        if not found:
            return self.reply(404, {"message": "Not Found"})
        if found[0]["user"]["login"] != self.login():
            return self.reply(403, {"message": "Must have admin rights to Repository."})
        found[0]["body"] = self.body()["body"]
        save()
        self.reply(200, found[0])


server = HTTPServer(("127.0.0.1", 0), Handler)
with open(port_file, "w") as f:
    f.write(str(server.server_address[1]))
server.serve_forever()
