# Start and stop a private nginx on 127.0.0.1 serving a folder, as a CDN would.
# Sourced by scripts/demo and scripts/bench. Never binds anything but loopback.

# nginx_start ROOT WORKDIR -> sets NGINX_PORT, NGINX_PREFIX
nginx_start() {
  local root=$1 work=$2
  NGINX_PREFIX=$work/nginx
  mkdir -p "$NGINX_PREFIX/logs" "$NGINX_PREFIX/tmp"
  NGINX_PORT=${NGINX_PORT:-$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')}
  # Workers run as root when we do, so they can read a tree inside a 0700 folder (a
  # test's temporary folder); nginx ignores `user` otherwise.
  local user=""
  [ "$(id -u)" -eq 0 ] && user="user root;"
  cat > "$NGINX_PREFIX/nginx.conf" <<CONF
$user
worker_processes 1;
pid $NGINX_PREFIX/nginx.pid;
error_log $NGINX_PREFIX/logs/error.log warn;
events { worker_connections 256; }
http {
  access_log $NGINX_PREFIX/logs/access.log;
  client_body_temp_path $NGINX_PREFIX/tmp;
  proxy_temp_path $NGINX_PREFIX/tmp;
  fastcgi_temp_path $NGINX_PREFIX/tmp;
  uwsgi_temp_path $NGINX_PREFIX/tmp;
  scgi_temp_path $NGINX_PREFIX/tmp;
  types { application/json json; text/html html; }
  default_type application/octet-stream;
  sendfile on;
  etag on;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $root;
    location /blobs/ { add_header Cache-Control "public, max-age=31536000, immutable"; }
    location /manifests/ { add_header Cache-Control "public, max-age=60"; }
  }
}
CONF
  /usr/sbin/nginx -p "$NGINX_PREFIX" -c "$NGINX_PREFIX/nginx.conf"
  for _ in $(seq 50); do
    curl -fsS -o /dev/null "http://127.0.0.1:$NGINX_PORT/modelcast.json" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "error: nginx did not start on 127.0.0.1:$NGINX_PORT (see $NGINX_PREFIX/logs/error.log)" >&2
  return 1
}

nginx_stop() {
  [ -n "${NGINX_PREFIX:-}" ] && [ -f "$NGINX_PREFIX/nginx.pid" ] || return 0
  /usr/sbin/nginx -p "$NGINX_PREFIX" -c "$NGINX_PREFIX/nginx.conf" -s stop 2>/dev/null || true
  for _ in $(seq 50); do [ -f "$NGINX_PREFIX/nginx.pid" ] || break; sleep 0.1; done
}
