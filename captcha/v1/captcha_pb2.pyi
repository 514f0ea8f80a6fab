from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Color(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COLOR_UNSPECIFIED: _ClassVar[Color]
    COLOR_RED: _ClassVar[Color]
    COLOR_YELLOW: _ClassVar[Color]
    COLOR_BLUE: _ClassVar[Color]
    COLOR_BLACK: _ClassVar[Color]

class Route(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROUTE_UNSPECIFIED: _ClassVar[Route]
    ROUTE_DIRECT: _ClassVar[Route]
    ROUTE_COLOR_TRANSFORM: _ClassVar[Route]

class Advice(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ADVICE_UNSPECIFIED: _ClassVar[Advice]
    ADVICE_SUBMIT: _ClassVar[Advice]
    ADVICE_REFRESH: _ClassVar[Advice]
COLOR_UNSPECIFIED: Color
COLOR_RED: Color
COLOR_YELLOW: Color
COLOR_BLUE: Color
COLOR_BLACK: Color
ROUTE_UNSPECIFIED: Route
ROUTE_DIRECT: Route
ROUTE_COLOR_TRANSFORM: Route
ADVICE_UNSPECIFIED: Advice
ADVICE_SUBMIT: Advice
ADVICE_REFRESH: Advice

class RecognizeRequest(_message.Message):
    __slots__ = ("image", "color", "request_id", "key4", "route", "min_confidence")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    COLOR_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    KEY4_FIELD_NUMBER: _ClassVar[int]
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    MIN_CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    image: bytes
    color: Color
    request_id: str
    key4: str
    route: Route
    min_confidence: float
    def __init__(self, image: _Optional[bytes] = ..., color: _Optional[_Union[Color, str]] = ..., request_id: _Optional[str] = ..., key4: _Optional[str] = ..., route: _Optional[_Union[Route, str]] = ..., min_confidence: _Optional[float] = ...) -> None: ...

class CharacterScore(_message.Message):
    __slots__ = ("character", "confidence")
    CHARACTER_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    character: str
    confidence: float
    def __init__(self, character: _Optional[str] = ..., confidence: _Optional[float] = ...) -> None: ...

class RecognizeResponse(_message.Message):
    __slots__ = ("text", "confidence", "route", "model", "request_id", "characters", "model_version", "color", "server_ms", "reads", "agreeing_reads", "answer_id", "path_confidence", "advice", "min_confidence", "calibrated")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CHARACTERS_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    COLOR_FIELD_NUMBER: _ClassVar[int]
    SERVER_MS_FIELD_NUMBER: _ClassVar[int]
    READS_FIELD_NUMBER: _ClassVar[int]
    AGREEING_READS_FIELD_NUMBER: _ClassVar[int]
    ANSWER_ID_FIELD_NUMBER: _ClassVar[int]
    PATH_CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    ADVICE_FIELD_NUMBER: _ClassVar[int]
    MIN_CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    CALIBRATED_FIELD_NUMBER: _ClassVar[int]
    text: str
    confidence: float
    route: Route
    model: str
    request_id: str
    characters: _containers.RepeatedCompositeFieldContainer[CharacterScore]
    model_version: int
    color: Color
    server_ms: float
    reads: int
    agreeing_reads: int
    answer_id: str
    path_confidence: float
    advice: Advice
    min_confidence: float
    calibrated: bool
    def __init__(self, text: _Optional[str] = ..., confidence: _Optional[float] = ..., route: _Optional[_Union[Route, str]] = ..., model: _Optional[str] = ..., request_id: _Optional[str] = ..., characters: _Optional[_Iterable[_Union[CharacterScore, _Mapping]]] = ..., model_version: _Optional[int] = ..., color: _Optional[_Union[Color, str]] = ..., server_ms: _Optional[float] = ..., reads: _Optional[int] = ..., agreeing_reads: _Optional[int] = ..., answer_id: _Optional[str] = ..., path_confidence: _Optional[float] = ..., advice: _Optional[_Union[Advice, str]] = ..., min_confidence: _Optional[float] = ..., calibrated: _Optional[bool] = ...) -> None: ...

class ReportOutcomeRequest(_message.Message):
    __slots__ = ("answer_id", "accepted", "submitted_text")
    ANSWER_ID_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    SUBMITTED_TEXT_FIELD_NUMBER: _ClassVar[int]
    answer_id: str
    accepted: bool
    submitted_text: str
    def __init__(self, answer_id: _Optional[str] = ..., accepted: _Optional[bool] = ..., submitted_text: _Optional[str] = ...) -> None: ...

class ReportOutcomeResponse(_message.Message):
    __slots__ = ("stored", "verified")
    STORED_FIELD_NUMBER: _ClassVar[int]
    VERIFIED_FIELD_NUMBER: _ClassVar[int]
    stored: bool
    verified: bool
    def __init__(self, stored: _Optional[bool] = ..., verified: _Optional[bool] = ...) -> None: ...

class LiveAccuracy(_message.Message):
    __slots__ = ("color", "version", "model", "accepted", "rejected", "accuracy")
    COLOR_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_FIELD_NUMBER: _ClassVar[int]
    color: Color
    version: int
    model: str
    accepted: int
    rejected: int
    accuracy: float
    def __init__(self, color: _Optional[_Union[Color, str]] = ..., version: _Optional[int] = ..., model: _Optional[str] = ..., accepted: _Optional[int] = ..., rejected: _Optional[int] = ..., accuracy: _Optional[float] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("color", "name", "version", "input_width", "input_height", "preprocess_version", "charset_size", "reads_transforms", "loaded", "route", "served_by", "served_by_version", "version_policy", "runtime", "calibrated", "default_min_confidence")
    COLOR_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    INPUT_WIDTH_FIELD_NUMBER: _ClassVar[int]
    INPUT_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    PREPROCESS_VERSION_FIELD_NUMBER: _ClassVar[int]
    CHARSET_SIZE_FIELD_NUMBER: _ClassVar[int]
    READS_TRANSFORMS_FIELD_NUMBER: _ClassVar[int]
    LOADED_FIELD_NUMBER: _ClassVar[int]
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    SERVED_BY_FIELD_NUMBER: _ClassVar[int]
    SERVED_BY_VERSION_FIELD_NUMBER: _ClassVar[int]
    VERSION_POLICY_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_FIELD_NUMBER: _ClassVar[int]
    CALIBRATED_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_MIN_CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    color: Color
    name: str
    version: int
    input_width: int
    input_height: int
    preprocess_version: int
    charset_size: int
    reads_transforms: bool
    loaded: bool
    route: Route
    served_by: str
    served_by_version: int
    version_policy: str
    runtime: str
    calibrated: bool
    default_min_confidence: float
    def __init__(self, color: _Optional[_Union[Color, str]] = ..., name: _Optional[str] = ..., version: _Optional[int] = ..., input_width: _Optional[int] = ..., input_height: _Optional[int] = ..., preprocess_version: _Optional[int] = ..., charset_size: _Optional[int] = ..., reads_transforms: _Optional[bool] = ..., loaded: _Optional[bool] = ..., route: _Optional[_Union[Route, str]] = ..., served_by: _Optional[str] = ..., served_by_version: _Optional[int] = ..., version_policy: _Optional[str] = ..., runtime: _Optional[str] = ..., calibrated: _Optional[bool] = ..., default_min_confidence: _Optional[float] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models", "confidence_threshold", "second_look_views", "live_accuracy")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    SECOND_LOOK_VIEWS_FIELD_NUMBER: _ClassVar[int]
    LIVE_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelInfo]
    confidence_threshold: float
    second_look_views: int
    live_accuracy: _containers.RepeatedCompositeFieldContainer[LiveAccuracy]
    def __init__(self, models: _Optional[_Iterable[_Union[ModelInfo, _Mapping]]] = ..., confidence_threshold: _Optional[float] = ..., second_look_views: _Optional[int] = ..., live_accuracy: _Optional[_Iterable[_Union[LiveAccuracy, _Mapping]]] = ...) -> None: ...
