// The OpenAPI 3.1 document of /api/v1 (rest_api.h). Its schemas are JSON Schema 2020-12, so a
// test checks real replies against them with a stock validator (tests/rest_api_test.cc).
#include "cluster/gateway/rest_api.h"

namespace muster::gateway {

const std::string& OpenApiDocument() {
  static const std::string doc = R"JSON({
  "openapi": "3.1.0",
  "info": {
    "title": "muster coordinator",
    "version": "1",
    "description": "Jobs, nodes, schedule, balance and accounting of a muster cluster. Every call needs Authorization: Bearer TOKEN and is checked as the gRPC API checks it (docs/security.md). Times are Unix epoch milliseconds."
  },
  "security": [{"bearer": []}],
  "paths": {
    "/api/v1/jobs": {
      "get": {
        "summary": "List jobs (pending and running; finished ones too with all=1, a state or since)",
        "parameters": [
          {"name": "user", "in": "query", "schema": {"type": "string"}, "description": "owner, or @me"},
          {"name": "state", "in": "query", "schema": {"type": "string"}, "description": "comma list of job states"},
          {"name": "name", "in": "query", "schema": {"type": "string"}},
          {"name": "since", "in": "query", "schema": {"type": "string"}, "description": "7d, 12h, or epoch ms"},
          {"name": "all", "in": "query", "schema": {"type": "string", "enum": ["0", "1"]}},
          {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 100}},
          {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0}}
        ],
        "responses": {
          "200": {"description": "a page of jobs", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/JobList"}}}},
          "default": {"$ref": "#/components/responses/Error"}
        }
      },
      "post": {
        "summary": "Submit a job",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/JobSubmission"}}}},
        "responses": {
          "201": {"description": "accepted and stored", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Submitted"}}}},
          "default": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/api/v1/jobs/{id}": {
      "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 1}}],
      "get": {
        "summary": "One job with its tasks and history",
        "responses": {
          "200": {"description": "the job", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Job"}}}},
          "default": {"$ref": "#/components/responses/Error"}
        }
      },
      "delete": {
        "summary": "Cancel the job, or one of its array tasks",
        "parameters": [{"name": "task", "in": "query", "schema": {"type": "integer", "minimum": 0}}],
        "responses": {
          "200": {"description": "stopping; stored", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Cancelled"}}}},
          "default": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/api/v1/jobs/{id}/logs": {
      "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 1}}],
      "get": {
        "summary": "A job's output; with follow=1 as Server-Sent Events (event log, then eof)",
        "parameters": [
          {"name": "task", "in": "query", "schema": {"type": "integer", "minimum": 0}},
          {"name": "stream", "in": "query", "schema": {"type": "string", "enum": ["stdout", "stderr"]}},
          {"name": "follow", "in": "query", "schema": {"type": "string", "enum": ["0", "1"]}}
        ],
        "responses": {
          "200": {"description": "the text", "content": {"text/plain": {"schema": {"type": "string"}}, "text/event-stream": {"schema": {"type": "string"}}}},
          "default": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/api/v1/nodes": {
      "get": {
        "summary": "Nodes with free capacity and live GPU readings",
        "responses": {
          "200": {"description": "the nodes", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NodeList"}}}},
          "default": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/api/v1/balance": {
      "get": {
        "summary": "Load and balance metrics (as muster balance -o json)",
        "parameters": [{"name": "trend_points", "in": "query", "schema": {"type": "integer", "minimum": 0}}],
        "responses": {
          "200": {"description": "the balance", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Balance"}}}},
          "default": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/api/v1/schedule": {
      "get": {
        "summary": "Predicted and actual start and finish of each task",
        "parameters": [{"name": "all", "in": "query", "schema": {"type": "string", "enum": ["0", "1"]}}],
        "responses": {
          "200": {"description": "the schedule", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Schedule"}}}},
          "default": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/api/v1/acct": {
      "get": {
        "summary": "Usage per job: GPU-hours, CPU-hours, peak memory, GPU utilization, energy",
        "parameters": [
          {"name": "user", "in": "query", "schema": {"type": "string"}},
          {"name": "since", "in": "query", "schema": {"type": "string"}},
          {"name": "job", "in": "query", "schema": {"type": "integer", "minimum": 0}}
        ],
        "responses": {
          "200": {"description": "usage", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Accounting"}}}},
          "default": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/api/v1/whoami": {
      "get": {
        "summary": "Who the token is, as the coordinator knows it",
        "responses": {
          "200": {"description": "the caller", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WhoAmI"}}}},
          "default": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/api/v1/openapi.json": {
      "get": {"summary": "This document", "security": [], "responses": {"200": {"description": "OpenAPI 3.1"}}}
    }
  },
  "components": {
    "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
    "responses": {
      "Error": {"description": "refused or failed", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    },
    "schemas": {
      "Error": {
        "type": "object", "required": ["error"], "additionalProperties": false,
        "properties": {"error": {"type": "object", "required": ["code", "message"], "additionalProperties": false,
          "properties": {
            "code": {"type": "string", "enum": ["invalid_argument", "unauthenticated", "permission_denied", "not_found", "already_exists", "failed_precondition", "infeasible", "unschedulable", "unavailable", "internal"]},
            "message": {"type": "string", "minLength": 1}}}}
      },
      "JobSubmission": {
        "type": "object", "required": ["command", "workdir"],
        "description": "The keys of a YAML job file (docs/user-guide.md); workdir must be absolute.",
        "properties": {
          "command": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]},
          "workdir": {"type": "string"},
          "name": {"type": "string"}, "class": {"type": "string"}, "user": {"type": "string"},
          "env": {"type": "object", "additionalProperties": {"type": "string"}},
          "tasks": {"type": "integer"}, "gang": {"type": "boolean"}, "array": {"type": "string"},
          "gpus": {"type": "integer"}, "cpus": {"type": ["number", "string"]}, "mem": {"type": ["integer", "string"]},
          "time": {"type": ["integer", "string"]}, "priority": {"type": "integer"}, "retries": {"type": "integer"},
          "checkpointable": {"type": "boolean"}, "on_preempt": {"type": "string", "enum": ["requeue", "cancel"]}
        }
      },
      "WhoAmI": {"type": "object", "required": ["name", "role"], "properties": {"name": {"type": "string"}, "role": {"type": "string", "enum": ["admin", "user", "viewer", "agent"]}, "via": {"type": "string"}, "peer": {"type": "string"}}},
      "Submitted": {"type": "object", "required": ["job_id"], "properties": {"job_id": {"type": "integer", "minimum": 1}}},
      "Cancelled": {"type": "object", "required": ["job_id", "cancelled"], "properties": {"job_id": {"type": "integer"}, "cancelled": {"const": true}, "task_index": {"type": "integer"}}},
      "JobState": {"type": "string", "enum": ["pending", "running", "succeeded", "failed", "cancelled", "timeout", "oom"]},
      "TaskState": {"type": "string", "enum": ["pending", "launching", "running", "succeeded", "failed", "cancelled", "lost", "timeout", "oom"]},
      "Spec": {
        "type": "object", "required": ["name", "user", "command", "workdir", "tasks", "gpus", "cpus", "mem_mib"],
        "properties": {
          "name": {"type": "string"}, "user": {"type": "string"}, "class": {"type": "string"},
          "command": {"type": "array", "items": {"type": "string"}},
          "env": {"type": "object", "additionalProperties": {"type": "string"}},
          "workdir": {"type": "string"}, "tasks": {"type": "integer"}, "gang": {"type": "boolean"},
          "ranks_per_node": {"type": "integer"}, "array": {"type": "string"},
          "after": {"type": "array", "items": {"type": "integer"}}, "priority": {"type": "integer"},
          "cpus": {"type": "number"}, "mem_mib": {"type": "integer"}, "gpus": {"type": "integer"},
          "gpu_mem_mib": {"type": "integer"}, "gpu_model": {"type": "string"},
          "est_time_s": {"type": "number"}, "est_work": {"type": "number"},
          "checkpointable": {"type": "boolean"}, "retries": {"type": "integer"},
          "time_limit_ms": {"type": "integer"}, "on_preempt": {"type": "string", "enum": ["requeue", "cancel"]}
        }
      },
      "Task": {
        "type": "object", "required": ["index", "state", "node", "gpus", "attempt", "exit_code", "start_ms", "end_ms"],
        "properties": {
          "index": {"type": "integer"}, "state": {"$ref": "#/components/schemas/TaskState"},
          "node": {"type": "string"}, "gpus": {"type": "array", "items": {"type": "integer"}},
          "attempt": {"type": "integer"}, "exit_code": {"type": "integer"},
          "peak_memory_mib": {"type": ["integer", "null"]}, "cpu_seconds": {"type": ["number", "null"]},
          "message": {"type": "string"}, "start_ms": {"type": "integer"}, "end_ms": {"type": "integer"},
          "predicted_start_ms": {"type": "integer"}, "predicted_finish_ms": {"type": "integer"},
          "retries": {"type": "integer"},
          "progress": {"oneOf": [{"type": "null"}, {"type": "object", "required": ["done", "total"],
            "properties": {"done": {"type": "number"}, "total": {"type": "number"},
              "fields": {"type": "object", "additionalProperties": {"type": "string"}}, "time_ms": {"type": "integer"}}}]}
        }
      },
      "Job": {
        "type": "object",
        "required": ["job_id", "name", "user", "state", "reason", "submit_ms", "start_ms", "end_ms", "predicted_start_ms", "predicted_finish_ms", "task_count", "task_states", "spec", "tasks", "history"],
        "properties": {
          "job_id": {"type": "integer", "minimum": 1}, "name": {"type": "string"}, "user": {"type": "string"},
          "state": {"$ref": "#/components/schemas/JobState"}, "reason": {"type": "string"},
          "submit_ms": {"type": "integer"}, "start_ms": {"type": "integer"}, "end_ms": {"type": "integer"},
          "predicted_start_ms": {"type": "integer"}, "predicted_finish_ms": {"type": "integer"},
          "task_count": {"type": "integer"},
          "task_states": {"type": "object", "additionalProperties": {"type": "integer"}},
          "spec": {"$ref": "#/components/schemas/Spec"},
          "tasks": {"type": "array", "items": {"$ref": "#/components/schemas/Task"}},
          "history": {"type": "array", "items": {"type": "string"}},
          "predicted_at_submit": {"oneOf": [{"type": "null"}, {"type": "object",
            "required": ["made_ms", "start_ms", "finish_ms", "run_low_s", "run_high_s"],
            "properties": {"made_ms": {"type": "integer"}, "start_ms": {"type": "integer"},
              "finish_ms": {"type": "integer"}, "run_low_s": {"type": "number"}, "run_high_s": {"type": "number"}}}]}
        }
      },
      "JobList": {
        "type": "object", "required": ["jobs", "total", "offset", "limit", "now_ms", "user_shares"],
        "properties": {
          "jobs": {"type": "array", "items": {"$ref": "#/components/schemas/Job"}},
          "total": {"type": "integer"}, "offset": {"type": "integer"}, "limit": {"type": "integer"},
          "next_offset": {"type": "integer"}, "now_ms": {"type": "integer"},
          "store_condition": {"type": "string"},
          "user_shares": {"type": "object", "additionalProperties": {"type": "number"}}
        }
      },
      "Node": {
        "type": "object", "required": ["name", "state", "cpus", "cpus_free", "mem_mib", "mem_free_mib", "gpus", "running_tasks"],
        "properties": {
          "name": {"type": "string"}, "address": {"type": "string"},
          "state": {"type": "string", "enum": ["ready", "draining", "drained", "lost", "unconfirmed", "unreachable"]},
          "cpus": {"type": "number"}, "cpus_free": {"type": "number"},
          "mem_mib": {"type": "integer"}, "mem_free_mib": {"type": "integer"},
          "gpus": {"type": "array", "items": {"type": "object", "required": ["index", "model", "memory_mib", "free"],
            "properties": {"index": {"type": "integer"}, "model": {"type": "string"}, "memory_mib": {"type": "integer"},
              "virtual": {"type": "boolean"}, "uuid": {"type": "string"},
              "utilization": {"type": ["number", "null"]}, "power_w": {"type": ["number", "null"]},
              "memory_used_mib": {"type": ["integer", "null"]}, "free": {"type": "boolean"}}}},
          "speed": {"type": "number"}, "load": {"type": "number"}, "containment": {"type": "string"},
          "running_tasks": {"type": "integer"}, "last_heartbeat_ms": {"type": "integer"},
          "drain": {"type": "object", "properties": {"reason": {"type": "string"}, "by": {"type": "string"}, "since_ms": {"type": "integer"}}}
        }
      },
      "NodeList": {"type": "object", "required": ["nodes"], "properties": {"nodes": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}}}},
      "Schedule": {
        "type": "object", "required": ["rows", "now_ms"],
        "properties": {
          "now_ms": {"type": "integer"},
          "rows": {"type": "array", "items": {"type": "object",
            "required": ["job_id", "job_name", "task", "node", "gpus", "state", "predicted_start_ms", "predicted_finish_ms", "actual_start_ms", "actual_finish_ms"],
            "properties": {"job_id": {"type": "integer"}, "job_name": {"type": "string"}, "task": {"type": "integer"},
              "node": {"type": "string"}, "gpus": {"type": "array", "items": {"type": "integer"}}, "state": {"type": "string"},
              "predicted_start_ms": {"type": "integer"}, "predicted_finish_ms": {"type": "integer"},
              "actual_start_ms": {"type": "integer"}, "actual_finish_ms": {"type": "integer"},
              "submit_predicted_start_ms": {"type": "integer"}, "submit_predicted_finish_ms": {"type": "integer"}}}}
        }
      },
      "Balance": {
        "type": "object", "required": ["mode"],
        "properties": {"mode": {"type": "string", "enum": ["off", "dry-run", "on"]}, "now_ms": {"type": "integer"},
          "threshold": {"type": "number"}, "armed": {"type": "boolean"},
          "nodes": {"type": "object", "properties": {"jain": {"type": "number"}, "imbalance_factor": {"type": "number"}}}}
      },
      "Accounting": {
        "type": "object", "required": ["jobs", "now_ms"],
        "properties": {
          "now_ms": {"type": "integer"},
          "jobs": {"type": "array", "items": {"type": "object",
            "required": ["job_id", "user", "name", "state", "submit_ms", "gpus", "gpu_hours", "cpu_hours", "energy_wh"],
            "properties": {"job_id": {"type": "integer"}, "user": {"type": "string"}, "name": {"type": "string"},
              "state": {"type": "string"}, "exit_code": {"type": "integer"}, "submit_ms": {"type": "integer"},
              "start_ms": {"type": ["integer", "null"]}, "end_ms": {"type": ["integer", "null"]},
              "submit_time": {"type": "string"}, "wait_s": {"type": ["number", "null"]}, "elapsed_s": {"type": "number"},
              "task_attempts": {"type": "integer"}, "gpus": {"type": "integer"},
              "gpu_hours": {"type": "number"}, "cpu_hours": {"type": "number"},
              "cpu_time_s": {"type": ["number", "null"]}, "peak_rss_mib": {"type": ["integer", "null"]},
              "gpu_util": {"type": ["number", "null"]}, "energy_wh": {"type": ["number", "null"]},
              "energy_complete": {"type": "boolean"}}}}
        }
      }
    }
  }
}
)JSON";
  return doc;
}

}  // namespace muster::gateway
