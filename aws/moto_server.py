"""moto_server as the contract tests run it: moto's own server with two answers shaped as AWS shapes them, which the
Rust SDK insists on: an ECS container's cpu and memory are strings (moto: the task definition's numbers), and an API
Gateway connection's times are ISO 8601 (moto: seconds since the epoch)."""

import sys
from datetime import datetime, timezone

import moto.apigatewaymanagementapi.models as apigateway
import moto.ecs.models as ecs
from moto.server import main

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
    main(sys.argv[1:])
