"""moto_server as the contract tests run it: moto's own server with two answers shaped as AWS shapes them, which the
Rust SDK insists on: an ECS container's cpu and memory are strings (moto: the task definition's numbers), and an API
Gateway connection's times are ISO 8601 (moto: seconds since the epoch).

It binds a port of the kernel's choosing on the host given as its one argument and prints that port on a line of its
own once it listens, so no other process can take the port between choosing and binding it."""

import os
import sys
from datetime import datetime, timezone

import moto.apigatewaymanagementapi.models as apigateway
import moto.ecs.models as ecs
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

_container_init = ecs.Container.__init__


def _container_init_with_string_sizes(self, *args, **kwargs):
    _container_init(self, *args, **kwargs)
    self.cpu = None if self.cpu is None else str(self.cpu)
    self.memory = None if self.memory is None else str(self.memory)


_connection_to_dict = apigateway.Connection.to_dict


def _connection_to_dict_with_iso_times(self):
    answer = _connection_to_dict(self)
    for key in ("connectedAt", "lastActiveAt"):
        answer[key] = datetime.fromtimestamp(answer[key], timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return answer


ecs.Container.__init__ = _container_init_with_string_sizes
apigateway.Connection.to_dict = _connection_to_dict_with_iso_times

if __name__ == "__main__":
    server = make_server(sys.argv[1], 0, DomainDispatcherApplication(create_backend_app), threaded=True)
    port = server.server_address[1]
    # moto writes its own port into the URLs it hands out (queue URLs and the like).
    os.environ["MOTO_PORT"] = str(port)
    print(port, flush=True)
    server.serve_forever()
